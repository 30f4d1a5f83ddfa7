import { aggregateId } from "../../record/ids.js";
import { type CanonicalRecord, encodeRecord, type OutRecord } from "../../record/record.js";
import { addValue, emptyStats, type StatName, type Stats, statsAttrs } from "./stats.js";

/**
 * One open aggregate window of one sensor: what it has merged so far and the seq range it
 * covers (for the transform's heldSeq), and the canonical record it becomes when it closes.
 */
export interface Window {
  start: number;
  minSeq: number;
  maxSeq: number;
  maxRxMs: number;
  source: string;
  temperature: Stats;
  humidity: Stats;
}

/** Start of the tumbling window of `windowMs` that `tsMs` falls in. */
export function windowStart(tsMs: number, windowMs: number): number {
  return Math.floor(tsMs / windowMs) * windowMs;
}

export function openWindow(start: number, seq: number, rxMs: number, source: string): Window {
  return {
    start,
    minSeq: seq,
    maxSeq: seq,
    maxRxMs: rxMs,
    source,
    temperature: emptyStats(),
    humidity: emptyStats(),
  };
}

/** Merges one valid record (finite temperature) into the window. */
export function addToWindow(w: Window, r: OutRecord, rec: CanonicalRecord): void {
  w.minSeq = Math.min(w.minSeq, r.seq);
  w.maxSeq = Math.max(w.maxSeq, r.seq);
  w.maxRxMs = Math.max(w.maxRxMs, r.rxMs);
  w.source = rec.source;
  addValue(w.temperature, rec.temperature, r.tsMs);
  if (typeof rec.humidity === "number" && Number.isFinite(rec.humidity))
    addValue(w.humidity, rec.humidity, r.tsMs);
}

/** The closed window as a record: same agent, sensor, start and size give the same id. */
export function windowRecord(
  agentId: string,
  sensor: string,
  w: Window,
  windowMs: number,
  stats: readonly StatName[],
): OutRecord {
  const id = aggregateId(agentId, sensor, w.start, windowMs);
  const rec: CanonicalRecord = {
    id,
    sensor,
    ts: new Date(w.start).toISOString(),
    temperature: round(w.temperature.sum / w.temperature.count),
    source: w.source,
    agent: agentId,
    seq: w.maxSeq,
    rx: new Date(w.maxRxMs).toISOString(),
    attrs: {
      window: {
        start: new Date(w.start).toISOString(),
        end: new Date(w.start + windowMs).toISOString(),
        ms: windowMs,
      },
      ...statsAttrs(w.temperature, stats),
    },
  };
  if (w.humidity.count > 0) {
    rec.humidity = round(w.humidity.sum / w.humidity.count);
    (rec.attrs as Record<string, unknown>).humidity = statsAttrs(w.humidity, stats);
  }
  return { seq: w.maxSeq, id, sensor, tsMs: w.start, rxMs: w.maxRxMs, body: encodeRecord(rec) };
}

/** Six decimals: keeps aggregate lines short without losing sensor precision. */
export function round(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
