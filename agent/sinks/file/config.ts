import { z } from "zod";
import { bytes, duration, sinkCommon } from "../../config/common.js";

export const fileSinkSchema = z.strictObject({
  type: z.literal("file"),
  ...sinkCommon,
  /** Folder for the NDJSON files (created if missing), relative to the working directory. */
  dir: z.string({ error: "expected a folder path" }).min(1, "expected a folder path"),
  /** Roll to a new file once the current one would grow past this. */
  maxFileBytes: bytes().default(64 * 1024 * 1024),
  /** Roll a file this long after it was opened, even when idle. */
  maxFileAgeMs: duration().default(3_600_000),
  /** Compress each file when it is rolled (`.ndjson` → `.ndjson.gz`). */
  gzip: z.boolean().default(false),
});
export type FileSinkConfig = z.infer<typeof fileSinkSchema>;
