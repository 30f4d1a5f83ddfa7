/**
 * The canonical record (agent/README.md, "The record"). A source produces `Reading`s; ingest turns each into a
 * `NewRecord` (id, source, agent, rx assigned once); the spool adds `seq` and stores the
 * canonical JSON line that every sink ships unchanged.
 */

/** What a parser extracts from one device message, before ingest. */
export interface Reading {
  sensor: string;
  /** Degrees Celsius, finite. */
  temperature: number;
  /** Relative humidity in percent, when the payload carries it. */
  humidity?: number;
  /** Device timestamp in epoch milliseconds, when the payload carries one. */
  deviceTs?: number;
  /** Device message counter, when the payload carries one. */
  deviceSeq?: number;
  /** Unknown payload fields, kept as they came. */
  attrs?: Record<string, unknown>;
  /** Set by transforms that produce aggregates; overrides id derivation. */
  id?: string;
}

/** The record before the spool gives it a sequence number. */
export interface NewRecord {
  id: string;
  sensor: string;
  /** ISO-8601 device time, else the receive time. */
  ts: string;
  temperature: number;
  humidity?: number;
  source: string;
  agent: string;
  /** ISO-8601 receive time at the agent. */
  rx: string;
  /** The device's own message counter, when the payload carries one: consumers find gaps with it. */
  dseq?: number;
  attrs?: Record<string, unknown>;
}

/** The canonical record as shipped: one JSON object per line / per Kinesis user record. */
export interface CanonicalRecord extends NewRecord {
  seq: number;
}

/** A record as a sink receives it from the spool: the stored JSON line plus the keys sinks route on. */
export interface OutRecord {
  seq: number;
  id: string;
  sensor: string;
  /** Epoch ms of `ts` (event time), for windowing. */
  tsMs: number;
  /** Epoch ms of `rx` (receive time). */
  rxMs: number;
  /** The canonical JSON line, without a trailing newline. */
  body: string;
}

// Strings made only of printable ASCII without `"` or `\\` need no escaping: the common case
// (ids, sensor names, ISO times) skips JSON.stringify's per-call cost.
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
const str = (v: string): string => (PLAIN.test(v) ? `"${v}"` : JSON.stringify(v));
const num = (v: number): string => (Number.isFinite(v) ? String(v) : "null");

/**
 * Serialises a record in its fixed field order (the table in agent/README.md). Hand-assembled because it runs once per
 * reading on the ingest path and is several times faster than stringifying a fresh object;
 * the output equals `JSON.stringify` of the ordered object byte for byte (property-tested).
 */
export function encodeRecord(r: CanonicalRecord): string;
export function encodeRecord(r: NewRecord, seq: number): string;
export function encodeRecord(r: NewRecord, seq: number = (r as CanonicalRecord).seq): string {
  let out = `{"id":${str(r.id)},"sensor":${str(r.sensor)},"ts":${str(r.ts)},"temperature":${num(r.temperature)}`;
  if (r.humidity !== undefined) out += `,"humidity":${num(r.humidity)}`;
  out += `,"source":${str(r.source)},"agent":${str(r.agent)},"seq":${num(seq)},"rx":${str(r.rx)}`;
  if (r.dseq !== undefined) out += `,"dseq":${num(r.dseq)}`;
  if (r.attrs !== undefined && Object.keys(r.attrs).length > 0) out += `,"attrs":${JSON.stringify(r.attrs)}`;
  return `${out}}`;
}

export function decodeRecord(body: string): CanonicalRecord {
  return JSON.parse(body) as CanonicalRecord;
}
