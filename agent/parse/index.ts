import type { Reading } from "../record/record.js";
import {
  bad,
  csvFields,
  jsonRows,
  kvRow,
  MAX_BATCH,
  type Row,
  type Rows,
  splitLines,
  zipRow,
} from "./formats.js";
import { type Field, type MapSpec, mapRow, PRESET_KEYS } from "./map.js";
import { compileSensorTemplate } from "./template.js";
import {
  type ParseContext,
  type ParseResult,
  type Parser,
  type ParserOptions,
  parserOptionsSchema,
  parserSchema,
} from "./types.js";
import { NUMERIC } from "./values.js";

/**
 * The parser every source uses. One payload (an MQTT message, a serial line) in,
 * readings or one reject reason out. It never throws on input; a bad template in the options
 * throws at creation, which is config time.
 *
 * - A payload is all-or-nothing: if one reading of a batch is bad, the whole payload is rejected
 *   with that reading's reason and index, so a sender's message is either stored or counted.
 * - CSV with `header: true`: the first line the parser sees is the header and is remembered (a
 *   serial stream); a multi-line payload brings its own header; a repeat of the header is skipped.
 *   Without header and `columns`, columns are `sensor,temperature,humidity` (`temperature,humidity`
 *   when `sensor` is configured).
 * - A payload can yield zero readings (a CSV header line): `{ok: true, readings: []}`.
 */

export { MAX_BATCH, MAX_JSON_DEPTH } from "./formats.js";
export type { SensorTemplate, TemplateLookup, TopicTemplate } from "./template.js";
export {
  compileSensorTemplate,
  compileTopicFilters,
  compileTopicTemplate,
  topicMatches,
} from "./template.js";
export * from "./types.js";
export { PRESET_KEYS };

const decoder = new TextDecoder("utf-8", { fatal: true });

function decode(payload: Uint8Array | string, maxBytes: number): Rows | string {
  if (typeof payload === "string") {
    if (payload.length > maxBytes || Buffer.byteLength(payload) > maxBytes)
      return bad("too-large", `more than ${maxBytes} bytes`);
    if (/\p{Cs}/u.test(payload)) return bad("invalid-utf8", "lone surrogate");
    return payload.charCodeAt(0) === 0xfeff ? payload.slice(1) : payload;
  }
  if (payload.byteLength > maxBytes)
    return bad("too-large", `${payload.byteLength} bytes, at most ${maxBytes}`);
  try {
    return decoder.decode(payload);
  } catch {
    return bad("invalid-utf8", "payload is not valid UTF-8");
  }
}

/**
 * Takes the parser keys of `opts` (a whole source config may be passed), applies defaults,
 * compiles templates once; throws on a bad template.
 */
export function createParser(opts: Partial<ParserOptions>): Parser {
  const picked: Record<string, unknown> = {};
  for (const k of Object.keys(parserSchema))
    if ((opts as Record<string, unknown>)[k] !== undefined) picked[k] = (opts as Record<string, unknown>)[k];
  const o = parserOptionsSchema.parse(picked);
  const paths: Partial<Record<Field, string>> = {};
  for (const [k, v] of Object.entries(o.fields)) if (v !== undefined) paths[k as Field] = v;
  const spec: MapSpec = {
    preset: o.preset,
    paths,
    unit: o.unit,
    range: o.range,
    ...(o.sensor === undefined ? {} : { sensor: compileSensorTemplate(o.sensor) }),
  };
  const keys = PRESET_KEYS[o.preset];
  const temperatureKey = paths.temperature ?? keys.temperature[0]!;
  const defaultColumns = [
    ...(o.sensor === undefined ? [paths.sensor ?? keys.sensor[0]!] : []),
    temperatureKey,
    paths.humidity ?? keys.humidity[0]!,
  ];
  let header: string[] | undefined;
  let headerLine: string | undefined;

  function csvRows(text: string): Rows {
    const lines = splitLines(text);
    const rows: Row[] = [];
    let names = o.columns ?? (o.header ? header : defaultColumns);
    let first = 0;
    if (o.header && o.columns === undefined && (names === undefined || lines.length > 1)) {
      const h = csvFields(lines[0]!, o.delimiter);
      if (h === undefined || h.some((n) => n === "")) return bad("bad-format", "invalid CSV header row");
      // A stream joined mid-way starts with data, not the header: refuse until a header comes.
      if (h.some((n) => NUMERIC.test(n))) return bad("bad-format", "expected the CSV header row first");
      header = names = h;
      headerLine = lines[0]!.trim();
      first = 1;
    }
    for (let i = first; i < lines.length; i++) {
      if (o.header && lines[i]!.trim() === headerLine) continue;
      const values = csvFields(lines[i]!, o.delimiter);
      if (values === undefined) return bad("bad-format", `line ${i + 1}: unterminated quote`);
      rows.push(zipRow(names ?? defaultColumns, values));
    }
    return { ok: true, rows };
  }

  function rowsOf(text: string): Rows {
    switch (o.format) {
      case "json":
        return jsonRows(text, temperatureKey);
      case "csv":
        return csvRows(text);
      case "kv": {
        const rows: Row[] = [];
        for (const line of splitLines(text)) {
          const r = kvRow(line);
          if (typeof r === "string") return bad("bad-format", r);
          rows.push(r);
        }
        return { ok: true, rows };
      }
      case "number":
        return { ok: true, rows: splitLines(text).map((l) => ({ [temperatureKey]: l.trim() })) };
    }
  }

  return {
    parse(payload: Uint8Array | string, ctx: ParseContext = {}): ParseResult {
      try {
        const text = decode(payload, o.maxBytes);
        if (typeof text !== "string") return text as ParseResult;
        if (text.trim().length === 0) return { ok: false, reason: "empty", detail: "empty payload" };
        const rows = rowsOf(text);
        if (!rows.ok) return rows;
        if (rows.rows.length > MAX_BATCH)
          return {
            ok: false,
            reason: "too-large",
            detail: `${rows.rows.length} readings, at most ${MAX_BATCH}`,
          };
        const readings: Reading[] = [];
        for (let i = 0; i < rows.rows.length; i++) {
          const m = mapRow(rows.rows[i]!, spec, ctx.vars, ctx.topic);
          if (!m.ok)
            return {
              ok: false,
              reason: m.reason,
              detail: rows.rows.length > 1 ? `[${i}] ${m.detail}` : m.detail,
            };
          readings.push(m.reading);
        }
        return { ok: true, readings };
      } catch (err) {
        // Defence in depth: a parser bug must cost one message, never the source.
        return {
          ok: false,
          reason: "bad-format",
          detail: `parser error: ${err instanceof Error ? err.message : String(err)}`,
        };
      }
    },
    reset() {
      header = undefined;
      headerLine = undefined;
    },
  };
}
