import { createHash, randomFillSync } from "node:crypto";
import type { Reading } from "./record.js";

/**
 * Primary keys (agent/README.md, "Id rules"). Content-derived when the device says when or which message this is,
 * so a redelivered message gets the same id; random otherwise, assigned once at ingest and kept
 * in the spool so every retry resends it unchanged. The prefix tells a reader which kind it is:
 * `c` content, `r` random, `a` aggregate.
 *
 * Layout: prefix + 12 hex digits of a millisecond time + 10 base64url characters (60 bits) of
 * hash or randomness. The time comes first so ids of one period sort together: the spool's
 * UNIQUE(id) index then grows at its end instead of touching a random page per insert, which is
 * most of the cost of a group commit. Ids without a time (a device counter alone) are all hash.
 */

const SEP = "\u001f";
const TIME_HEX = 12;
const TAIL = 10;

function hash(parts: readonly (string | number)[], chars: number): string {
  return createHash("sha256").update(parts.join(SEP)).digest("base64url").slice(0, chars);
}

function timePrefix(ms: number): string | undefined {
  if (!Number.isFinite(ms) || ms < 0 || ms >= 2 ** 48) return undefined;
  return Math.floor(ms).toString(16).padStart(TIME_HEX, "0");
}

function withTime(kind: string, ms: number | undefined, parts: readonly (string | number)[]): string {
  const t = ms === undefined ? undefined : timePrefix(ms);
  return t === undefined ? `${kind}${hash(parts, TIME_HEX + TAIL)}` : `${kind}${t}${hash(parts, TAIL)}`;
}

/** The id of a reading whose payload carries a device timestamp or sequence, else undefined. */
export function contentId(r: Reading): string | undefined {
  if (r.deviceTs === undefined && r.deviceSeq === undefined) return undefined;
  return withTime("c", r.deviceTs, [
    r.sensor,
    r.deviceTs === undefined ? "" : `t${r.deviceTs}`,
    r.deviceSeq === undefined ? "" : `s${r.deviceSeq}`,
    r.temperature,
    r.humidity ?? "",
  ]);
}

// Random bytes drawn 4 KiB at a time: one syscall per reading would dominate a group commit.
const pool = Buffer.alloc(4096);
let poolAt = pool.length;

function randomTail(): string {
  if (poolAt + 8 > pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  poolAt += 8;
  return pool.toString("base64url", poolAt - 8, poolAt).slice(0, TAIL);
}

export function randomId(nowMs: number = Date.now()): string {
  return `r${timePrefix(nowMs) ?? "000000000000"}${randomTail()}`;
}

/** The id of a windowed aggregate: recomputing the same window after a crash yields the same id. */
export function aggregateId(agent: string, sensor: string, windowStartMs: number, windowMs: number): string {
  return withTime("a", windowStartMs, [agent, sensor, windowStartMs, windowMs]);
}

export function readingId(r: Reading, nowMs?: number): string {
  return r.id ?? contentId(r) ?? randomId(nowMs);
}
