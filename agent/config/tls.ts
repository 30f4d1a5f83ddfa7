import { readFileSync } from "node:fs";
import { z } from "zod";

/** TLS from PEM files, shared by every client that dials out (mqtt source and sink, http sink). */
export const tlsFilesSchema = z
  .strictObject({
    /** The CA(s) to trust instead of the system ones (AWS IoT Core: AmazonRootCA1.pem). */
    caFile: z.string().min(1).optional(),
    /** Client certificate and key, for mutual TLS. */
    certFile: z.string().min(1).optional(),
    keyFile: z.string().min(1).optional(),
    rejectUnauthorized: z.boolean().default(true),
  })
  .refine(
    (t) => (t.certFile === undefined) === (t.keyFile === undefined),
    "expected both certFile and keyFile, or neither",
  );
export type TlsFiles = z.infer<typeof tlsFilesSchema>;

export interface TlsOptions {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  rejectUnauthorized: boolean;
}

/** Reads the files once at start; a missing file fails the start with its path in the error. */
export function loadTls(t: TlsFiles | undefined): TlsOptions {
  const out: TlsOptions = { rejectUnauthorized: t?.rejectUnauthorized ?? true };
  if (t?.caFile) out.ca = readFileSync(t.caFile);
  if (t?.certFile) out.cert = readFileSync(t.certFile);
  if (t?.keyFile) out.key = readFileSync(t.keyFile);
  return out;
}
