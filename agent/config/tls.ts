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

/**
 * TLS for a listener that devices dial in to (the embedded MQTT broker): the same PEM-file keys
 * as `tlsFilesSchema`, seen from the server side. With `caFile`, clients must present a
 * certificate signed by it (mutual TLS); `useIdentityAsUsername` then takes the username from
 * that certificate instead of CONNECT.
 */
export const serverTlsSchema = z
  .strictObject({
    certFile: z.string().min(1),
    keyFile: z.string().min(1),
    /** CA(s) that sign client certificates: set it and a client without a valid certificate is refused. */
    caFile: z.string().min(1).optional(),
    /** The client certificate's CN (else its first DNS/email SAN) is the username; CONNECT's is ignored. */
    useIdentityAsUsername: z.boolean().default(false),
  })
  .refine((t) => !t.useIdentityAsUsername || t.caFile !== undefined, {
    message: "useIdentityAsUsername needs caFile (client certificates are only asked for with a CA)",
    path: ["useIdentityAsUsername"],
  });
export type ServerTlsFiles = z.infer<typeof serverTlsSchema>;

export interface ServerTlsOptions {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
  requestCert: boolean;
  rejectUnauthorized: boolean;
}

/** Reads the files once at start; with a CA, the handshake itself refuses clients without a valid certificate. */
export function loadServerTls(t: ServerTlsFiles): ServerTlsOptions {
  const mutual = t.caFile !== undefined;
  return {
    cert: readFileSync(t.certFile),
    key: readFileSync(t.keyFile),
    ...(mutual ? { ca: readFileSync(t.caFile!) } : {}),
    requestCert: mutual,
    rejectUnauthorized: mutual,
  };
}
