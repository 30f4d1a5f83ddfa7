import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

/** A throw-away PKI made with openssl at test time: a CA, and certificates it signs. */
export interface Pki {
  caFile: string;
  /** A certificate signed by this CA, its key, and its path prefix. */
  issue(name: string, subject: string, san?: string): { certFile: string; keyFile: string };
}

export function makePki(dir: string, name: string): Pki {
  const caKey = join(dir, `${name}-ca.key`);
  const caFile = join(dir, `${name}-ca.pem`);
  const ssl = (args: string[]) => execFileSync("openssl", args, { stdio: "pipe" });
  ssl([
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    caKey,
    "-out",
    caFile,
    "-days",
    "1",
    "-subj",
    `/CN=${name} test CA`,
  ]);
  return {
    caFile,
    issue(certName, subject, san) {
      const keyFile = join(dir, `${certName}.key`);
      const csr = join(dir, `${certName}.csr`);
      const certFile = join(dir, `${certName}.pem`);
      ssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", keyFile, "-out", csr, "-subj", subject]);
      const ext = join(dir, `${certName}.ext`);
      writeFileSync(
        ext,
        san === undefined
          ? "basicConstraints=CA:FALSE\n"
          : `basicConstraints=CA:FALSE\nsubjectAltName=${san}\n`,
      );
      ssl([
        "x509",
        "-req",
        "-in",
        csr,
        "-CA",
        caFile,
        "-CAkey",
        caKey,
        "-CAcreateserial",
        "-out",
        certFile,
        "-days",
        "1",
        "-extfile",
        ext,
      ]);
      return { certFile, keyFile };
    },
  };
}
