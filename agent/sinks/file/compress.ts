import { createReadStream, createWriteStream } from "node:fs";
import * as fsp from "node:fs/promises";
import { dirname, join } from "node:path";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { type FileOps, syncDir } from "./rolling.js";

/**
 * Gzip on roll: the file being written stays plain NDJSON, so after a crash it is readable up to
 * the last acknowledged batch. A rolled file is compressed to `<name>.gz.tmp`, fsynced, renamed
 * to `<name>.gz` and only then the plain file removed; a crash at any step leaves either the plain
 * file (compressed again at the next start) or both (readers prefer the .gz).
 */
export async function gzipFile(ops: FileOps, src: string): Promise<string> {
  const dst = `${src}.gz`;
  const tmp = `${dst}.tmp`;
  await pipeline(createReadStream(src), createGzip(), createWriteStream(tmp, { mode: 0o640 }));
  const fh = await ops.open(tmp, "r+");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
  await ops.rename(tmp, dst);
  await syncDir(ops, dirname(src));
  await ops.unlink(src);
  return dst;
}

/** Cuts a file left by a crash back to its last complete line (an unacknowledged batch is resent). */
export async function cutTornTail(path: string): Promise<void> {
  const fh = await fsp.open(path, "r+");
  try {
    const { size } = await fh.stat();
    const chunk = Buffer.alloc(64 * 1024);
    let end = size;
    while (end > 0) {
      const start = Math.max(0, end - chunk.length);
      const { bytesRead } = await fh.read(chunk, 0, end - start, start);
      const nl = chunk.subarray(0, bytesRead).lastIndexOf(0x0a);
      if (nl >= 0) {
        end = start + nl + 1;
        break;
      }
      end = start;
    }
    if (end < size) {
      await fh.truncate(end);
      await fh.sync();
    }
  } finally {
    await fh.close();
  }
}

/**
 * Start-up recovery for this sink's files in `dir`: removes half-written .gz.tmp files, cuts torn
 * tails, and (with gzip) compresses plain files a crash left behind. Returns the plain files left.
 */
export async function recoverDir(
  ops: FileOps,
  dir: string,
  prefix: string,
  gzip: boolean,
): Promise<string[]> {
  let names: string[];
  try {
    names = await ops.readdir(dir);
  } catch {
    return [];
  }
  const mine = names.filter((n) => n.startsWith(`${prefix}-`) && /-\d{8}T\d{9}Z-\d{6}\.ndjson/.test(n));
  for (const n of mine) if (n.endsWith(".gz.tmp")) await ops.unlink(join(dir, n));
  const plain = mine.filter((n) => n.endsWith(".ndjson")).map((n) => join(dir, n));
  for (const p of plain) await cutTornTail(p);
  if (!gzip) return plain;
  for (const p of plain) await gzipFile(ops, p);
  return [];
}
