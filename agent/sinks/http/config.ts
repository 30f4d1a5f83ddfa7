import { z } from "zod";
import { duration, sinkCommon } from "../../config/common.js";

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
  tls: z
    .strictObject({
      /** PEM file of the CA(s) to trust instead of the system ones. */
      caFile: z.string().optional(),
      /** PEM client certificate and key, for mutual TLS. */
      certFile: z.string().optional(),
      keyFile: z.string().optional(),
      rejectUnauthorized: z.boolean().default(true),
    })
    .optional(),
});
export type HttpSinkConfig = z.infer<typeof httpSinkSchema>;
