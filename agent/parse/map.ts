import type { Reading } from "../record/record.js";
import type { Row } from "./formats.js";
import type { SensorTemplate } from "./template.js";
import { FORBIDDEN_KEYS } from "./keys.js";
import type { RejectReason } from "./types.js";
import { boundedAttrs, toCelsius, toNumber, toSensor, toSeq, toTimestamp, type Unit } from "./values.js";

/**
 * Maps one row of raw fields to a Reading: finds the canonical fields (explicit dot paths, else
 * the preset's keys), derives the sensor id, converts units, validates, and keeps the rest as attrs.
 */

export type Field = "sensor" | "temperature" | "humidity" | "ts" | "seq";
const FIELDS: readonly Field[] = ["sensor", "temperature", "humidity", "ts", "seq"];

/**
 * Keys each field is looked up under (case-insensitive) when no explicit path is configured.
 * `canonical` also takes the edgespool record shape, so one agent can feed another.
 */
export const PRESET_KEYS: Record<"canonical" | "kinesis-tutorial", Record<Field, readonly string[]>> = {
  canonical: {
    sensor: ["sensor"],
    temperature: ["temperature", "temp", "t"],
    humidity: ["humidity", "hum", "h", "rh"],
    ts: ["ts", "timestamp", "time"],
    seq: ["seq"],
  },
  "kinesis-tutorial": {
    sensor: ["Spot"],
    temperature: ["Temperature"],
    humidity: ["Humidity"],
    ts: ["Timestamp"],
    seq: [],
  },
};

const RECORD_ID = /^[cra][A-Za-z0-9_-]{22}$/;

export interface MapSpec {
  preset: "canonical" | "kinesis-tutorial";
  /** Explicit dot paths (JSON) or column/key names (CSV, kv). */
  paths: Partial<Record<Field, string>>;
  sensor?: SensorTemplate;
  unit: Unit;
  range: { min: number; max: number };
}

export type Mapped = { ok: true; reading: Reading } | { ok: false; reason: RejectReason; detail: string };

/** Own-property lookup by dot path; never walks into the prototype chain. */
export function getPath(row: Row, path: string): { key: string; value: unknown } | undefined {
  const segs = path.split(".");
  let cur: unknown = row;
  for (const seg of segs) {
    if (FORBIDDEN_KEYS.has(seg) || typeof cur !== "object" || cur === null) return undefined;
    if (!Object.hasOwn(cur, seg)) return undefined;
    cur = (cur as Record<string, unknown>)[seg];
  }
  return cur === undefined ? undefined : { key: segs[0]!, value: cur };
}

function findKey(row: Row, names: readonly string[]): { key: string; value: unknown } | undefined {
  for (const n of names) {
    if (Object.hasOwn(row, n) && !FORBIDDEN_KEYS.has(n)) return { key: n, value: row[n] };
  }
  const lower = names.map((n) => n.toLowerCase());
  for (const k of Object.keys(row)) {
    if (lower.includes(k.toLowerCase()) && !FORBIDDEN_KEYS.has(k)) return { key: k, value: row[k] };
  }
  return undefined;
}

function lookup(row: Row, spec: MapSpec, field: Field): { key: string; value: unknown } | undefined {
  const path = spec.paths[field];
  // A flat key wins over a dot path, so a CSV column or kv key may contain dots ("temp.c").
  if (path !== undefined)
    return findKey(row, [path]) ?? (path.includes(".") ? getPath(row, path) : undefined);
  return findKey(row, PRESET_KEYS[spec.preset][field]);
}

const fail = (reason: RejectReason, detail: string): Mapped => ({ ok: false, reason, detail });

export function mapRow(
  row: Row,
  spec: MapSpec,
  vars: Record<string, string> | undefined,
  topic?: string,
): Mapped {
  const used = new Set<string>();
  const found: Partial<Record<Field, unknown>> = {};
  for (const f of FIELDS) {
    if (f === "sensor" && spec.sensor !== undefined) continue;
    const hit = lookup(row, spec, f);
    if (hit === undefined || hit.value === null || hit.value === "") continue;
    found[f] = hit.value;
    used.add(hit.key);
  }

  if (found.temperature === undefined) return fail("missing-field", "temperature");
  const t = toNumber(found.temperature, "temperature");
  if (!t.ok) return t;
  const temperature = toCelsius(t.value, spec.unit);
  if (temperature < spec.range.min || temperature > spec.range.max)
    return fail("out-of-range", `temperature ${temperature} °C outside ${spec.range.min}..${spec.range.max}`);

  const sensor = resolveSensor(row, spec, vars, found.sensor, used, topic);
  if (!sensor.ok) return sensor;
  const reading: Reading = { sensor: sensor.value, temperature };

  if (found.humidity !== undefined) {
    const h = toNumber(found.humidity, "humidity");
    if (!h.ok) return h;
    if (h.value < 0 || h.value > 100) return fail("out-of-range", `humidity ${h.value} outside 0..100`);
    reading.humidity = h.value;
  }
  if (found.ts !== undefined) {
    const ts = toTimestamp(found.ts, "ts");
    if (!ts.ok) return ts;
    reading.deviceTs = ts.value;
  }
  if (found.seq !== undefined) {
    const s = toSeq(found.seq, "seq");
    if (!s.ok) return s;
    reading.deviceSeq = s.value;
  }
  // A relayed edgespool record keeps its primary key, so duplicates stay recognisable end to end.
  if (spec.preset === "canonical" && typeof row.id === "string" && RECORD_ID.test(row.id) && "agent" in row) {
    reading.id = row.id;
    used.add("id");
  }
  const attrs = boundedAttrs(unknownEntries(row, used));
  if (attrs !== undefined) reading.attrs = attrs;
  return { ok: true, reading };
}

function* unknownEntries(row: Row, used: Set<string>): Generator<[string, unknown]> {
  for (const k of Object.keys(row)) {
    if (used.has(k)) continue;
    const v = row[k];
    // The canonical record's own attrs are merged, not nested one level deeper.
    if (k === "attrs" && typeof v === "object" && v !== null && !Array.isArray(v))
      for (const ak of Object.keys(v)) yield [ak, (v as Record<string, unknown>)[ak]];
    else yield [k, v];
  }
}

function resolveSensor(
  row: Row,
  spec: MapSpec,
  vars: Record<string, string> | undefined,
  fromPayload: unknown,
  used: Set<string>,
  topic: string | undefined,
): { ok: true; value: string } | { ok: false; reason: RejectReason; detail: string } {
  if (spec.sensor !== undefined) {
    const r = spec.sensor.render((name) => {
      if (vars !== undefined && Object.hasOwn(vars, name)) return vars[name];
      if (name === "topic" && topic !== undefined) return topic;
      const hit = getPath(row, name);
      if (hit === undefined) return undefined;
      if (typeof hit.value === "string" || (typeof hit.value === "number" && Number.isFinite(hit.value))) {
        used.add(hit.key);
        return hit.value;
      }
      return undefined;
    });
    if (!r.ok) return { ok: false, reason: "missing-field", detail: `sensor template: {${r.missing}}` };
    return toSensor(r.value, "sensor");
  }
  if (fromPayload !== undefined) return toSensor(fromPayload, "sensor");
  if (vars !== undefined) {
    const parts = Object.values(vars);
    if (parts.length > 0) return toSensor(parts.join("/"), "sensor");
  }
  if (topic !== undefined) return toSensor(topic, "sensor");
  return { ok: false, reason: "missing-field", detail: "sensor" };
}
