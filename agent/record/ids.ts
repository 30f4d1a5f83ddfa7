import { createHash, randomBytes } from "node:crypto";
import type { Reading } from "./record.js";

/**
 * Primary keys (DESIGN §2). Content-derived when the device says when or which message this is,
 * so a redelivered message gets the same id; random otherwise, assigned once at ingest and kept
 * in the spool so every retry resends it unchanged. The prefix tells a reader which kind it is.
 */

const SEP = "\u001f";

function digest(parts: readonly (string | number)[]): string {
  return createHash("sha256").update(parts.join(SEP)).digest("base64url").slice(0, 22);
}

/** The id of a reading whose payload carries a device timestamp or sequence, else undefined. */
export function contentId(r: Reading): string | undefined {
  if (r.deviceTs === undefined && r.deviceSeq === undefined) return undefined;
  return `c${digest([
    r.sensor,
    r.deviceTs === undefined ? "" : `t${r.deviceTs}`,
    r.deviceSeq === undefined ? "" : `s${r.deviceSeq}`,
    r.temperature,
    r.humidity ?? "",
  ])}`;
}

export function randomId(): string {
  return `r${randomBytes(16).toString("base64url").slice(0, 22)}`;
}

/** The id of a windowed aggregate: recomputing the same window after a crash yields the same id. */
export function aggregateId(agent: string, sensor: string, windowStartMs: number, windowMs: number): string {
  return `a${digest([agent, sensor, windowStartMs, windowMs])}`;
}

export function readingId(r: Reading): string {
  return r.id ?? contentId(r) ?? randomId();
}
