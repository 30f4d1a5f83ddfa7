import type { Db } from "./db.js";
import { fileBytes, ROW_OVERHEAD } from "./db.js";
import type { SinkStats, SpoolStats } from "./types.js";

export function readMeta(db: Db): Record<string, number> {
  const rows = db.prepare("SELECT key, value FROM meta").all() as { key: string; value: number }[];
  const out: Record<string, number> = {};
  for (const r of rows) out[r.key] = r.value;
  return out;
}

/**
 * Bytes counted against maxBytes for the rows with seq > `after`: meta holds the count as of its
 * `lastSeq`, and rows stored since are added to it (meta is not written in every commit).
 */
export function bytesAfter(db: Db, after: number): number {
  const r = db
    .prepare("SELECT count(*) AS n, total(length(CAST(body AS BLOB))) AS b FROM records WHERE seq > ?")
    .get(after) as { n: number; b: number };
  return r.b + r.n * ROW_OVERHEAD;
}

/**
 * The spool's figures, read with SELECTs only so `edgespool status` can call it on a read-only
 * connection while the agent writes.
 *
 * Depth is a seq-range difference, not a COUNT over the backlog: rows are only ever removed as a
 * prefix of seq (acks, maxAge and drop-oldest all delete `seq <= X`) and a seq is consumed only by
 * a stored row, so the spool always holds exactly the seqs firstSeq..lastSeq and the difference is
 * exact (the property test checks it against a COUNT).
 */
export function computeStats(
  db: Db,
  dir: string,
  spoolNow: number,
  known?: { lastSeq: number; bytes: number },
): SpoolStats {
  const meta = readMeta(db);
  const range = db.prepare("SELECT min(seq) AS first, max(seq) AS last FROM records").get() as {
    first: number | null;
    last: number | null;
  };
  const lastSeq = known?.lastSeq ?? Math.max(meta.lastSeq ?? 0, range.last ?? 0);
  const first = range.first ?? lastSeq + 1;
  const records = range.first === null ? 0 : (range.last ?? 0) - first + 1;
  const oldestAt = db.prepare("SELECT at FROM records WHERE seq > ? ORDER BY seq LIMIT 1").pluck();
  const drops = db.prepare("SELECT reason, n FROM drops WHERE sink = ?");
  const cursors = db
    .prepare("SELECT sink, acked, shipped, dead_letters FROM cursors ORDER BY sink")
    .all() as {
    sink: string;
    acked: number;
    shipped: number;
    dead_letters: number;
  }[];
  const sinks: SinkStats[] = cursors.map((c) => {
    const after = Math.max(c.acked, first - 1);
    const depth = records === 0 ? 0 : Math.max(0, (range.last ?? 0) - after);
    const at = depth > 0 ? (oldestAt.get(c.acked) as number | undefined) : undefined;
    const dropped: Record<string, number> = {};
    for (const d of drops.all(c.sink) as { reason: string; n: number }[]) dropped[d.reason] = d.n;
    return {
      sink: c.sink,
      depth,
      oldestAgeMs: at === undefined ? 0 : Math.max(0, spoolNow - at),
      shipped: c.shipped,
      dropped,
      deadLetters: c.dead_letters,
      cursor: c.acked,
    };
  });
  // The dead-letter table is bounded (deadLetterMaxBytes), so summing it stays cheap.
  const dead = db
    .prepare("SELECT count(*) AS n, total(length(CAST(body AS BLOB))) AS b FROM dead_letters")
    .get() as { n: number; b: number };
  return {
    records,
    bytes: known?.bytes ?? (meta.bytes ?? 0) + bytesAfter(db, meta.lastSeq ?? 0),
    fileBytes: fileBytes(dir),
    lastSeq,
    deadLetterBytes: dead.b + dead.n * ROW_OVERHEAD,
    deadLettersEvicted: meta.deadLettersEvicted ?? 0,
    refused: meta.refused ?? 0,
    sinks,
  };
}

export function emptyStats(): SpoolStats {
  return {
    records: 0,
    bytes: 0,
    fileBytes: 0,
    lastSeq: 0,
    deadLetterBytes: 0,
    deadLettersEvicted: 0,
    refused: 0,
    sinks: [],
  };
}
