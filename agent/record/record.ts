/**
 * The canonical record (DESIGN §2). A source produces `Reading`s; ingest turns each into a
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

/** Serialises a record in the field order of DESIGN §2. */
export function encodeRecord(r: CanonicalRecord): string {
  const o: Record<string, unknown> = {
    id: r.id,
    sensor: r.sensor,
    ts: r.ts,
    temperature: r.temperature,
  };
  if (r.humidity !== undefined) o.humidity = r.humidity;
  o.source = r.source;
  o.agent = r.agent;
  o.seq = r.seq;
  o.rx = r.rx;
  if (r.attrs !== undefined && Object.keys(r.attrs).length > 0) o.attrs = r.attrs;
  return JSON.stringify(o);
}

export function decodeRecord(body: string): CanonicalRecord {
  return JSON.parse(body) as CanonicalRecord;
}
