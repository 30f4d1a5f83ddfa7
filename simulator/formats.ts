import type { Random } from "./prng.js";

/**
 * The payload formats the fleet speaks. The agent's parsers read them: `canonical` with the
 * default JSON preset, `tutorial` with the `kinesis-tutorial` preset, `csv` with
 * `columns: CSV_COLUMNS`, and `kv` with `fields: KV_FIELDS`.
 */

export const FORMATS = ["canonical", "tutorial", "csv", "kv"] as const;
export type Format = (typeof FORMATS)[number];

/** One device message before encoding. `ts` is the device clock, epoch ms. */
export interface Measurement {
  sensor: string;
  ts: number;
  seq: number;
  temperature: number;
  humidity?: number;
}

/** Column order of `csv` lines (no header row); humidity is present only with --humidity. */
export const CSV_COLUMNS = ["sensor", "ts", "seq", "temperature", "humidity"] as const;
/** Keys of `kv` lines, as a parser field map: `sensor=kitchen/t1 ts=… seq=42 T=21.5625 H=41.2`. */
export const KV_FIELDS = { sensor: "sensor", ts: "ts", seq: "seq", temperature: "T", humidity: "H" } as const;

export function encode(format: Format, m: Measurement): string {
  switch (format) {
    case "canonical": {
      const h = m.humidity === undefined ? "" : `,"humidity":${m.humidity}`;
      return `{"sensor":${JSON.stringify(m.sensor)},"ts":${m.ts},"seq":${m.seq},"temperature":${m.temperature}${h}}`;
    }
    case "tutorial": {
      // The tutorial's payload has no humidity; with --humidity it gets the field its preset reads.
      const h = m.humidity === undefined ? "" : `,"Humidity":${m.humidity}`;
      return `{"Timestamp":${m.ts},"Spot":${JSON.stringify(m.sensor)},"Temperature":${m.temperature}${h}}`;
    }
    case "csv":
      return `${m.sensor},${m.ts},${m.seq},${m.temperature}${m.humidity === undefined ? "" : `,${m.humidity}`}`;
    case "kv":
      return `sensor=${m.sensor} ts=${m.ts} seq=${m.seq} T=${m.temperature}${m.humidity === undefined ? "" : ` H=${m.humidity}`}`;
  }
}

export const MALFORMED_KINDS = ["truncated", "garbage", "bad-number"] as const;
export type MalformedKind = (typeof MALFORMED_KINDS)[number];

/** Where the temperature value starts in an encoded payload. */
function temperatureField(format: Format): string {
  switch (format) {
    case "canonical":
      return '"temperature"';
    case "tutorial":
      return '"Temperature"';
    case "csv":
      return ",";
    case "kv":
      return " T=";
  }
}

/**
 * A payload no correct parser accepts: cut off before the temperature, bytes that are not UTF-8
 * (never a line break, so line protocols keep their framing), or a temperature that is not a number.
 */
export function encodeMalformed(
  format: Format,
  m: Measurement,
  kind: MalformedKind,
  rng: Random,
): Uint8Array {
  const good = encode(format, m);
  switch (kind) {
    case "truncated": {
      // For CSV the temperature is the fourth column: cut just after the third comma.
      const field = temperatureField(format);
      let at = good.indexOf(field);
      if (format === "csv") at = good.split(",", 3).join(",").length + 1;
      return Buffer.from(good.slice(0, Math.max(1, at)));
    }
    case "garbage": {
      const n = 8 + rng.int(40);
      const out = Buffer.alloc(n);
      for (let i = 0; i < n; i++) out[i] = 0x20 + rng.int(0xe0);
      out[rng.int(n)] = 0xff; // never valid UTF-8
      return out;
    }
    case "bad-number": {
      // Strings a lenient parser might coerce to 0 (such as "") are avoided on purpose.
      const word = rng.pick(["warm", "NaN", "--", "2l.5"]);
      const s = encode(format, { ...m, temperature: 0 });
      const text =
        format === "canonical" || format === "tutorial"
          ? s.replace(/(emperature":)0/, `$1"${word}"`)
          : format === "csv"
            ? s.replace(/^([^,]*,[^,]*,[^,]*,)0/, `$1${word}`)
            : s.replace(/ T=0/, ` T=${word}`);
      return Buffer.from(text);
    }
  }
}

/** A well-formed payload padded past any sane size limit. */
export function encodeOversize(format: Format, m: Measurement, bytes: number): string {
  const good = encode(format, m);
  const pad = "x".repeat(Math.max(0, bytes - good.length - 10));
  switch (format) {
    case "canonical":
    case "tutorial":
      return `${good.slice(0, -1)},"pad":"${pad}"}`;
    case "csv":
      return `${good},${pad}`;
    case "kv":
      return `${good} pad=${pad}`;
  }
}
