import { FORBIDDEN_KEYS } from "./keys.js";
import type { RejectReason } from "./types.js";

/**
 * Field values: numbers (JSON numbers, or strict decimal strings because CSV, kv and many devices
 * send text), units, device timestamps, and bounded copies of unknown fields for `attrs`.
 */

export type Value<T> = { ok: true; value: T } | { ok: false; reason: RejectReason; detail: string };

/**
 * A plain decimal. Written so that every character has one way to match: `\d+\.?\d*` split a digit
 * run between two quantifiers, and a long digit string with a bad tail backtracked quadratically
 * (a 60 KB payload stalled the event loop for seconds). This form is linear.
 */
export const NUMERIC = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const NON_FINITE = /^[+-]?(?:nan|inf|infinity)$/i;

export function toNumber(v: unknown, field: string): Value<number> {
  let n: number;
  if (typeof v === "number") n = v;
  else if (typeof v === "string") {
    const s = v.trim();
    if (NON_FINITE.test(s)) return { ok: false, reason: "not-finite", detail: `${field}: ${s}` };
    if (!NUMERIC.test(s)) return { ok: false, reason: "wrong-type", detail: `${field}: not a number` };
    n = Number(s);
  } else
    return { ok: false, reason: "wrong-type", detail: `${field}: expected a number, got ${typeName(v)}` };
  if (!Number.isFinite(n)) return { ok: false, reason: "not-finite", detail: `${field}: ${n}` };
  return { ok: true, value: n };
}

function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v;
}

export type Unit = "C" | "F" | "mC";

/** Converts to °C; °F results are rounded to 6 decimals so 73.4 °F reads 23 °C, not 23.000000000000004. */
export function toCelsius(v: number, unit: Unit): number {
  if (unit === "F") return Math.round(((v - 32) * 5 * 1e6) / 9) / 1e6;
  if (unit === "mC") return v / 1000;
  return v;
}

/** Device time plausibility window: 2000-01-01 .. 2100-01-01. */
export const TS_MIN_MS = Date.UTC(2000, 0, 1);
export const TS_MAX_MS = Date.UTC(2100, 0, 1);
/** Epoch numbers below this are seconds (1e11 s is the year 5138; 1e11 ms is 1973). */
const SECONDS_BELOW = 1e11;

/** Epoch milliseconds or seconds (fractional allowed), numeric strings of either, or ISO-8601 strings. */
export function toTimestamp(v: unknown, field: string): Value<number> {
  let ms: number;
  if (typeof v === "string" && !NUMERIC.test(v.trim())) {
    if (!/^\d{4}-\d{2}-\d{2}/.test(v.trim()))
      return { ok: false, reason: "wrong-type", detail: `${field}: expected epoch ms/s or an ISO-8601 time` };
    ms = Date.parse(v.trim());
    if (Number.isNaN(ms))
      return { ok: false, reason: "wrong-type", detail: `${field}: invalid ISO-8601 time` };
  } else {
    const n = toNumber(v, field);
    if (!n.ok) return n;
    ms = Math.abs(n.value) < SECONDS_BELOW ? n.value * 1000 : n.value;
  }
  ms = Math.round(ms);
  if (ms < TS_MIN_MS || ms >= TS_MAX_MS)
    return {
      ok: false,
      reason: "out-of-range",
      detail: `${field}: ${String(v).slice(0, 40)} is not between 2000 and 2100`,
    };
  return { ok: true, value: ms };
}

export function toSeq(v: unknown, field: string): Value<number> {
  const n = toNumber(v, field);
  if (!n.ok) return n;
  if (!Number.isSafeInteger(n.value) || n.value < 0)
    return { ok: false, reason: "out-of-range", detail: `${field}: expected a non-negative integer` };
  return n;
}

export const MAX_SENSOR_LENGTH = 200;

export function toSensor(v: unknown, field: string): Value<string> {
  let s: string;
  if (typeof v === "string") s = v.trim();
  else if (typeof v === "number" && Number.isSafeInteger(v)) s = String(v);
  else return { ok: false, reason: "wrong-type", detail: `${field}: expected a string, got ${typeName(v)}` };
  if (s.length === 0) return { ok: false, reason: "missing-field", detail: `${field}: empty sensor id` };
  if (s.length > MAX_SENSOR_LENGTH)
    return {
      ok: false,
      reason: "bad-format",
      detail: `${field}: longer than ${MAX_SENSOR_LENGTH} characters`,
    };
  // eslint-disable-next-line no-control-regex -- control characters are what is refused
  if (/[\u0000-\u001f\u007f]/.test(s))
    return { ok: false, reason: "bad-format", detail: `${field}: control characters in sensor id` };
  return { ok: true, value: s };
}

export const MAX_ATTRS_KEYS = 32;
export const MAX_ATTRS_BYTES = 4096;
const MAX_ATTR_DEPTH = 4;

/** A copy that drops prototype-polluting keys and cuts nesting deeper than MAX_ATTR_DEPTH. */
function cleanValue(v: unknown, depth: number): unknown {
  if (typeof v !== "object" || v === null) return v;
  if (depth >= MAX_ATTR_DEPTH) return "[nested]";
  if (Array.isArray(v)) return v.slice(0, MAX_ATTRS_KEYS).map((x) => cleanValue(x, depth + 1));
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v).slice(0, MAX_ATTRS_KEYS))
    if (!FORBIDDEN_KEYS.has(k)) out[k] = cleanValue((v as Record<string, unknown>)[k], depth + 1);
  return out;
}

/**
 * Unknown fields for `attrs`, bounded to MAX_ATTRS_KEYS keys and about MAX_ATTRS_BYTES of JSON;
 * what does not fit is dropped and counted in `_truncated`.
 */
export function boundedAttrs(entries: Iterable<[string, unknown]>): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = {};
  let keys = 0;
  let size = 2;
  let dropped = 0;
  for (const [k, raw] of entries) {
    if (FORBIDDEN_KEYS.has(k)) continue;
    const v = cleanValue(raw, 0);
    const bytes = Buffer.byteLength(k) + Buffer.byteLength(JSON.stringify(v) ?? "null") + 4;
    if (keys >= MAX_ATTRS_KEYS || size + bytes > MAX_ATTRS_BYTES) {
      dropped++;
      continue;
    }
    out[k] = v;
    keys++;
    size += bytes;
  }
  if (dropped > 0) out._truncated = dropped;
  return keys > 0 || dropped > 0 ? out : undefined;
}
