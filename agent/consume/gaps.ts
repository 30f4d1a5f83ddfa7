import Database from "better-sqlite3";

/** What a consumer received from one device, judged by the device's own counter (`dseq`). */
export interface DeviceGaps {
  sensor: string;
  /** Lowest and highest `dseq` received. */
  first: number;
  last: number;
  /** Distinct `dseq` values received. */
  received: number;
  /** Values between `first` and `last` never received. */
  missing: number;
  /** The first missing ranges, inclusive, at most `maxRanges` of them. */
  ranges: [number, number][];
}

/**
 * Per-device gaps from `(sensor, dseq)` rows sorted by sensor, then dseq. Streams: memory holds
 * one device's summary at a time, however many rows there are. A repeated value (the same message
 * stored twice under different ids) counts once. A device that restarts its counter shows its
 * restart as values it already sent, not as a gap, so `missing` never over-reports.
 */
export function* findGaps(
  rows: Iterable<{ sensor: string; dseq: number }>,
  maxRanges = 20,
): Generator<DeviceGaps> {
  let cur: DeviceGaps | undefined;
  for (const { sensor, dseq } of rows) {
    if (cur === undefined || cur.sensor !== sensor) {
      if (cur) yield cur;
      cur = { sensor, first: dseq, last: dseq, received: 1, missing: 0, ranges: [] };
      continue;
    }
    if (dseq === cur.last) continue;
    if (dseq > cur.last + 1) {
      cur.missing += dseq - cur.last - 1;
      if (cur.ranges.length < maxRanges) cur.ranges.push([cur.last + 1, dseq - 1]);
    }
    cur.last = dseq;
    cur.received++;
  }
  if (cur) yield cur;
}

/**
 * The gap report of a consumer's SQLite file: every device whose records carry `dseq`. Read-only,
 * so it can run while `edgespool consume --follow` writes.
 */
export function gapReport(dbFile: string, maxRanges = 20): DeviceGaps[] {
  const db = new Database(dbFile, { readonly: true, fileMustExist: true });
  try {
    const rows = db
      .prepare(
        `SELECT sensor, json_extract(body, '$.dseq') AS dseq FROM readings
         WHERE json_type(body, '$.dseq') = 'integer' ORDER BY sensor, dseq`,
      )
      .iterate() as Iterable<{ sensor: string; dseq: number }>;
    return [...findGaps(rows, maxRanges)];
  } finally {
    db.close();
  }
}
