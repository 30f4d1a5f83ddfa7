import { z } from "zod";
import { duration, sinkCommon } from "../../config/common.js";
import { tlsFilesSchema } from "../../config/tls.js";

export const httpSinkSchema = z.strictObject({
  type: z.literal("http"),
  ...sinkCommon,
  /** Where batches are POSTed. */
  url: z
    .string({ error: "expected an http:// or https:// URL" })
    .refine(
      (u) => URL.canParse(u) && /^https?:$/.test(new URL(u).protocol),
      "expected an http:// or https:// URL",
    ),
  /** Extra request headers (e.g. Authorization); their values are never logged. */
  headers: z.record(z.string(), z.string()).default({}),
  /** Compress request bodies (Content-Encoding: gzip). */
  gzip: z.boolean().default(false),
  /** A request with no complete response by then fails (retryable). */
  timeoutMs: duration().default(30_000),
  tls: tlsFilesSchema.optional(),
});
export type HttpSinkConfig = z.infer<typeof httpSinkSchema>;
