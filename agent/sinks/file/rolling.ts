import type * as fsp from "node:fs/promises";
import { join } from "node:path";
import { fileError } from "./errors.js";

/** The slice of node:fs/promises the file sink uses, so a test can wrap it to inject ENOSPC/EACCES. */
export type FileOps = Pick<typeof fsp, "mkdir" | "open" | "readdir" | "rename" | "unlink" | "stat">;

export interface RollingOptions {
  dir: string;
  /** File names start with this (the sink id). */
  prefix: string;
  maxFileBytes: number;
  maxFileAgeMs: number;
  now: () => number;
  ops: FileOps;
  /** Called with the path of each file closed by a roll. */
  onRolled: (path: string) => void;
}

interface Current {
  fh: fsp.FileHandle;
  path: string;
  /** Bytes known durable; anything beyond is a torn write to cut off before the next one. */
  size: number;
  dirty: boolean;
  openedAt: number;
}

/** `<prefix>-20261122T012000123Z-000001.ndjson`: names sort in the order the files were opened. */
export function fileName(prefix: string, ms: number, n: number): string {
  const stamp = new Date(ms).toISOString().replace(/[-:.]/g, "");
  return `${prefix}-${stamp}-${String(n).padStart(6, "0")}.ndjson`;
}

/**
 * Appends to one open NDJSON file at a time and rolls by size and age. `append` resolves only
 * after fdatasync, so an acknowledged batch survives a crash or power loss; a failed write is cut
 * off again (truncate to the last durable size) so a retry never leaves a torn line mid-file.
 */
export class RollingFile {
  private cur: Current | undefined;
  private counter = 0;

  constructor(private readonly o: RollingOptions) {}

  async append(buf: Buffer): Promise<void> {
    const o = this.o;
    const cur = this.cur;
    if (
      cur &&
      (o.now() - cur.openedAt >= o.maxFileAgeMs || (cur.size > 0 && cur.size + buf.length > o.maxFileBytes))
    )
      await this.roll();
    const c = this.cur ?? (await this.openNew());
    try {
      if (c.dirty) {
        await c.fh.truncate(c.size);
        c.dirty = false;
      }
      let off = 0;
      while (off < buf.length) {
        const { bytesWritten } = await c.fh.write(buf, off, buf.length - off, c.size + off);
        off += bytesWritten;
      }
      await c.fh.datasync();
      c.size += buf.length;
    } catch (err) {
      c.dirty = true;
      throw fileError(err, "write", c.path);
    }
  }

  /** Rolls the current file if it is older than maxFileAgeMs (called from an idle timer). */
  async rollIfOld(): Promise<void> {
    if (this.cur && this.o.now() - this.cur.openedAt >= this.o.maxFileAgeMs) await this.roll();
  }

  async roll(): Promise<void> {
    const c = this.cur;
    if (!c) return;
    if (c.dirty) {
      // A torn tail must not end up in a closed file; keep the file until it can be cut off.
      try {
        await c.fh.truncate(c.size);
        c.dirty = false;
      } catch (err) {
        throw fileError(err, "truncate", c.path);
      }
    }
    this.cur = undefined;
    await c.fh.close().catch(() => {});
    if (c.size === 0) await this.o.ops.unlink(c.path).catch(() => {});
    else this.o.onRolled(c.path);
  }

  private async openNew(): Promise<Current> {
    const o = this.o;
    try {
      await o.ops.mkdir(o.dir, { recursive: true, mode: 0o750 });
    } catch (err) {
      throw fileError(err, "create folder", o.dir);
    }
    for (;;) {
      const path = join(o.dir, fileName(o.prefix, o.now(), ++this.counter));
      try {
        const fh = await o.ops.open(path, "wx", 0o640);
        await syncDir(o.ops, o.dir).catch(async (err) => {
          await fh.close().catch(() => {});
          throw err;
        });
        this.cur = { fh, path, size: 0, dirty: false, openedAt: o.now() };
        return this.cur;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw fileError(err, "create", path);
      }
    }
  }
}

/** Makes a new or renamed directory entry durable, not just the file's data. */
export async function syncDir(ops: FileOps, dir: string): Promise<void> {
  const fh = await ops.open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
