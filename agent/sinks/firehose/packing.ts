import { FIREHOSE_LIMITS } from "./config.js";

/** One Firehose record: newline-delimited readings, and which batch entries they are. */
export interface Packed {
  data: Buffer;
  /** Indices into the batch handed to the sink, in order. */
  indices: number[];
}

export interface Reading {
  index: number;
  /** The record body; never contains a newline (canonical JSON). */
  body: Buffer;
}

const NL = 0x0a;

/**
 * Packs readings in order into Firehose records of at most `maxRecordBytes`, each reading
 * followed by a newline, so the destination (S3, a Lambda transform) splits them back with any
 * NDJSON reader. A reading is never split; one that alone exceeds the limit is the caller's to
 * reject. With `perRecord` every reading gets its own record (the unpacked baseline).
 */
export function pack(readings: readonly Reading[], maxRecordBytes: number, perRecord = false): Packed[] {
  const out: Packed[] = [];
  let parts: Buffer[] = [];
  let indices: number[] = [];
  let size = 0;
  const flush = () => {
    if (parts.length === 0) return;
    out.push({ data: Buffer.concat(parts, size), indices });
    parts = [];
    indices = [];
    size = 0;
  };
  const newline = Buffer.from([NL]);
  for (const r of readings) {
    const need = r.body.length + 1;
    if (need > maxRecordBytes) throw new RangeError(`reading ${r.index} is larger than a Firehose record`);
    if (perRecord || size + need > maxRecordBytes) flush();
    parts.push(r.body, newline);
    indices.push(r.index);
    size += need;
  }
  flush();
  return out;
}

/** Splits records into PutRecordBatch calls within the per-call record count and byte limits. */
export function calls<T extends { data: Buffer }>(records: readonly T[]): T[][] {
  const out: T[][] = [];
  let cur: T[] = [];
  let bytes = 0;
  for (const r of records) {
    if (
      cur.length === FIREHOSE_LIMITS.recordsPerCall ||
      bytes + r.data.length > FIREHOSE_LIMITS.bytesPerCall
    ) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(r);
    bytes += r.data.length;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

/** Billed 5 KiB units for one record. */
export function billedUnits(bytes: number): number {
  return Math.max(1, Math.ceil(bytes / FIREHOSE_LIMITS.billingStep));
}

/** The readings inside a packed record, as the destination reads them. */
export function unpack(data: Buffer): string[] {
  const text = data.toString("utf8");
  return text.endsWith("\n") ? text.slice(0, -1).split("\n") : text.split("\n");
}
