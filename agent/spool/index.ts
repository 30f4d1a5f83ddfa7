import { existsSync } from "node:fs";
import { openDatabase } from "./cipher.js";
import { dbPath } from "./db.js";

export { hasReserve, isTransient as isTransientSpoolError } from "./db.js";
import { type SpoolOptions, SqliteSpool } from "./spool.js";
import { computeStats, emptyStats, readMeta } from "./stats.js";
import type { SpoolApi, SpoolStats } from "./types.js";

export type { SpoolOptions } from "./spool.js";
export type * from "./types.js";

/** Opens (or creates) the spool in `opts.dir`; a corrupt database is moved aside and a fresh one started. */
export function openSpool(opts: SpoolOptions): SpoolApi {
  return new SqliteSpool(opts);
}

/**
 * The spool's figures for `edgespool status`, from another process while the agent runs: WAL lets
 * this read-only connection read the last committed state without blocking the writer.
 */
export function readSpoolStats(dir: string, now: () => number = Date.now, key?: string): SpoolStats {
  const file = dbPath(dir);
  if (!existsSync(file)) return emptyStats();
  const db = openDatabase(file, dir, key, { readonly: true, fileMustExist: true, timeout: 2000 });
  try {
    const meta = readMeta(db);
    const spoolNow = Math.max(meta.clockHigh ?? 0, now() - (meta.clockOffset ?? 0));
    return computeStats(db, dir, spoolNow);
  } finally {
    db.close();
  }
}
