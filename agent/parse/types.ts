import { z } from "zod";
import { bytes } from "../config/common.js";
import type { Reading } from "../record/record.js";

/**
 * The one parser layer every source uses: formats, field maps, sensor-id
 * templates, unit conversion and validation, and a reject reason for everything it refuses.
 */

export const REJECT_REASONS = [
  "empty",
  "too-large",
  "invalid-utf8",
  "invalid-json",
  "bad-format",
  "wrong-type",
  "missing-field",
  "not-finite",
  "out-of-range",
  "unknown-topic",
  "not-authorized",
  "rate-limited",
  "crc",
  "sensor-fault",
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

export type ParseResult =
  { ok: true; readings: Reading[] } | { ok: false; reason: RejectReason; detail: string };

export interface ParseContext {
  /** MQTT topic, matched against the source's topic template for `{vars}`. */
  topic?: string;
  /** Variables already known (e.g. from a topic template), usable in the sensor template. */
  vars?: Record<string, string>;
}

export interface Parser {
  parse(payload: Uint8Array | string, ctx?: ParseContext): ParseResult;
  /** Forgets stream state (the CSV header row), e.g. after a serial port reopens. */
  reset?(): void;
}

/** Where each canonical field comes from in the payload (dot paths into JSON; column names in CSV/kv). */
export const fieldMapSchema = z.strictObject({
  sensor: z.string().optional(),
  temperature: z.string().optional(),
  humidity: z.string().optional(),
  ts: z.string().optional(),
  seq: z.string().optional(),
});

export const parserSchema = {
  /** Line / payload format. */
  format: z.enum(["json", "csv", "kv", "number"]).default("json"),
  /** `kinesis-tutorial` reads {"Timestamp": ms, "Spot": "A", "Temperature": 23}. */
  preset: z.enum(["canonical", "kinesis-tutorial"]).default("canonical"),
  fields: fieldMapSchema.prefault({}),
  /** Sensor id: fixed, or a template over topic variables and payload fields, e.g. "{room}/{sensor}". */
  sensor: z.string().min(1).optional(),
  /** Unit of the incoming temperature: C, F or mC (milli-degrees Celsius). */
  unit: z.enum(["C", "F", "mC"]).default("C"),
  /** Plausible range in °C after conversion; readings outside are rejected as out-of-range. */
  range: z.strictObject({ min: z.number().default(-60), max: z.number().default(125) }).prefault({}),
  /** CSV: column names when the input has no header row. */
  columns: z.array(z.string().min(1)).optional(),
  /** CSV: the first line is a header row. */
  header: z.boolean().default(false),
  /** CSV: the field separator. */
  delimiter: z.string().length(1, "expected one character").default(","),
  /** Largest payload or line accepted. */
  maxBytes: bytes().default(64 * 1024),
};

export const parserOptionsSchema = z.strictObject(parserSchema);
export type ParserOptions = z.infer<typeof parserOptionsSchema>;
