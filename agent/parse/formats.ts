import type { RejectReason } from "./types.js";

/**
 * Turns a payload into rows of raw fields, one row per reading, before any mapping. JSON rows are
 * the parsed objects; CSV and kv rows are flat string maps; a bare number becomes one field.
 */

export type Row = Record<string, unknown>;
export type Rows = { ok: true; rows: Row[] } | { ok: false; reason: RejectReason; detail: string };

/** Most readings one payload may carry (a JSON array, or lines of a multi-line payload). */
export const MAX_BATCH = 1000;
/** Deepest JSON nesting accepted; real sensor payloads stay far below. */
export const MAX_JSON_DEPTH = 32;

export const bad = (reason: RejectReason, detail: string): Rows => ({ ok: false, reason, detail });

/** Nesting depth of a JSON text, counted outside strings, so hostile input is refused before parsing. */
export function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      depth++;
      if (depth > max) max = depth;
    } else if (c === 125 || c === 93) depth--;
  }
  return max;
}

function isPlainObject(v: unknown): v is Row {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function jsonRows(text: string, temperatureKey: string): Rows {
  if (jsonDepth(text) > MAX_JSON_DEPTH) return bad("bad-format", `JSON nested deeper than ${MAX_JSON_DEPTH}`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return bad("invalid-json", err instanceof Error ? err.message.slice(0, 120) : "invalid JSON");
  }
  // A bare JSON number (or numeric string) is the temperature, as many devices publish per topic.
  if (typeof value === "number" || typeof value === "string")
    return { ok: true, rows: [{ [temperatureKey]: value }] };
  if (isPlainObject(value)) return { ok: true, rows: [value] };
  if (Array.isArray(value)) {
    if (value.length === 0) return bad("empty", "empty JSON array");
    if (value.length > MAX_BATCH) return bad("too-large", `${value.length} readings, at most ${MAX_BATCH}`);
    for (let i = 0; i < value.length; i++)
      if (!isPlainObject(value[i])) return bad("bad-format", `[${i}]: expected an object`);
    return { ok: true, rows: value as Row[] };
  }
  return bad(
    "bad-format",
    `expected a JSON object, array or number, got ${value === null ? "null" : typeof value}`,
  );
}

export function splitLines(text: string): string[] {
  return text.split(/\r?\n|\r/).filter((l) => l.trim().length > 0);
}

/** One CSV line; double quotes enclose fields with delimiters, `""` is a literal quote. */
export function csvFields(line: string, delimiter: string): string[] | undefined {
  const out: string[] = [];
  let cur = "";
  // Whether `cur` holds anything but whitespace, tracked as it grows: calling cur.trim() at
  // every quote made a line of quotes quadratic.
  let blank = true;
  let quoted = false;
  let i = 0;
  while (i < line.length) {
    const c = line[i]!;
    if (quoted) {
      if (c === '"') {
        if (line[i + 1] === '"') {
          cur += '"';
          blank = false;
          i++;
        } else quoted = false;
      } else {
        cur += c;
        if (blank && c.trim() !== "") blank = false;
      }
    } else if (c === '"' && blank) {
      quoted = true;
      cur = "";
    } else if (c === delimiter) {
      out.push(cur.trim());
      cur = "";
      blank = true;
    } else {
      cur += c;
      if (blank && c.trim() !== "") blank = false;
    }
    i++;
  }
  if (quoted) return undefined;
  out.push(cur.trim());
  return out;
}

/** Builds a row from values and column names; values beyond the names are kept as `col<N>` (1-based). */
export function zipRow(names: readonly string[], values: readonly string[]): Row {
  const row: Row = {};
  values.forEach((v, i) => {
    const name = names[i] ?? `col${i + 1}`;
    if (name === "__proto__" || v === "") return;
    row[name] = v;
  });
  return row;
}

/** `T=23.4 H=41`, `temp:23.4, hum:41`: tokens separated by whitespace, `,` or `;`. */
export function kvRow(line: string): Row | string {
  const row: Row = {};
  for (const token of line.trim().split(/[\s,;]+/)) {
    if (token === "") continue;
    const m = /^([^=:]+)[=:](.*)$/.exec(token);
    if (!m) return `token "${token.slice(0, 40)}" is not key=value`;
    const key = m[1]!;
    if (key === "__proto__") continue;
    row[key] = m[2]!;
  }
  return Object.keys(row).length === 0 ? "no key=value pairs" : row;
}
