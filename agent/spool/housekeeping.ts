import { type Db, isDiskFull, restrictFiles } from "./db.js";
import type { SpoolStore } from "./store.js";

/** Housekeeping writes the meta row at most this often while only inserts happen (see store.ts). */
export const META_EVERY_MS = 60_000;
/** Free pages are handed back to the file system only once they are worth this much. */
const RECLAIM_MIN_BYTES = 1024 * 1024;

export interface RetentionPlan {
  cutoff: number;
  /** Delete records up to this seq (max-age). */
  expired: number | undefined;
  /** Trim to maxBytes (drop-oldest). */
  trim: boolean;
  /** Dead letters expired by age, or over their byte limit. */
  letters: boolean;
  overLetters: boolean;
  meta: boolean;
}

/**
 * What retention has to do now, found by reads only; undefined when nothing, so an idle agent's
 * housekeeping opens no transaction and writes nothing.
 */
export function planRetention(
  s: SpoolStore,
  o: { maxAgeMs: number; maxBytes: number; onFull: string; deadLetterLimit: number },
  now: number,
  metaDue: boolean,
): RetentionPlan | undefined {
  const cutoff = now - o.maxAgeMs;
  const plan: RetentionPlan = {
    cutoff,
    expired: s.lastBefore(cutoff),
    trim: o.onFull === "drop-oldest" && s.bytes > o.maxBytes,
    letters: s.letters.hasBefore(cutoff),
    overLetters: s.letters.bytes > o.deadLetterLimit,
    meta: metaDue && s.metaStale,
  };
  return plan.meta || !metaOnly(plan) ? plan : undefined;
}

export function metaOnly(p: RetentionPlan): boolean {
  return p.expired === undefined && !p.trim && !p.letters && !p.overLetters;
}

/** Carries out a plan inside a transaction; returns how many records it removed. */
export function applyRetention(s: SpoolStore, p: RetentionPlan, maxBytes: number, deadLetterLimit: number) {
  let removed = p.expired === undefined ? 0 : s.deleteUpTo(p.expired, "max-age");
  if (p.letters) s.letters.expire(p.cutoff);
  if (p.letters || p.overLetters) s.letters.trim(deadLetterLimit);
  if (p.trim) removed += s.trimTo(maxBytes);
  if (p.meta) s.requestMeta();
  return removed;
}

/**
 * Hands free pages back to the file system once they are worth 1 MiB and either the spool is
 * empty or they are a tenth of the file, then truncates the WAL. Below that, inserts reuse the
 * free pages: giving them back and growing the file again would only wear the disk. True when it
 * vacuumed.
 */
export function reclaimPages(db: Db, dir: string, empty: boolean): boolean {
  const free = db.pragma("freelist_count", { simple: true }) as number;
  const pages = db.pragma("page_count", { simple: true }) as number;
  const size = db.pragma("page_size", { simple: true }) as number;
  if (free * size < RECLAIM_MIN_BYTES || !(empty || free >= pages / 10)) return false;
  try {
    db.exec("PRAGMA incremental_vacuum");
    db.pragma("wal_checkpoint(TRUNCATE)");
  } catch (err) {
    // Moving pages needs room in the WAL: on a full disk, the next tick tries again.
    if (isDiskFull(err)) return false;
    throw err;
  }
  restrictFiles(dir);
  return true;
}
