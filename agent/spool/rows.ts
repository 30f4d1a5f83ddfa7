import type { OutRecord } from "../record/record.js";
import type { Statements } from "./statements.js";

interface Row {
  seq: number;
  id: string;
  sensor: string;
  ts: number;
  rx: number;
  body: string;
}

/** Up to `limit` records after `afterSeq`, stopping before `maxBytes` of bodies (at least one). */
export function readRows(st: Statements, afterSeq: number, limit: number, maxBytes: number): OutRecord[] {
  const out: OutRecord[] = [];
  let total = 0;
  for (const row of st.read.iterate(afterSeq, limit) as Iterable<Row>) {
    if (out.length > 0 && total + row.body.length > maxBytes) break;
    total += row.body.length;
    out.push({ seq: row.seq, id: row.id, sensor: row.sensor, tsMs: row.ts, rxMs: row.rx, body: row.body });
  }
  return out;
}

/** Epoch ms of an ISO time, or `fallback` when it does not parse. */
export function msOr(iso: string, fallback: number): number {
  const ms = Date.parse(iso);
  return Number.isFinite(ms) ? ms : fallback;
}
