import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";

/**
 * Every complete NDJSON line a file sink wrote to `dir`, in write order (file names sort by the
 * time they were opened). Reads `.ndjson` and `.ndjson.gz`; skips a plain file whose `.gz` already
 * exists (a crash between compressing and removing), `.tmp` files, and a torn last line.
 */
export function readNdjsonDir(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const names = readdirSync(dir).sort();
  const lines: string[] = [];
  for (const n of names) {
    let text: string;
    if (n.endsWith(".ndjson.gz")) text = gunzipSync(readFileSync(join(dir, n))).toString("utf8");
    else if (n.endsWith(".ndjson") && !names.includes(`${n}.gz`)) text = readFileSync(join(dir, n), "utf8");
    else continue;
    const parts = text.split("\n");
    parts.pop(); // after the last newline: empty, or a line torn by a crash
    for (const p of parts) if (p.length > 0) lines.push(p);
  }
  return lines;
}
