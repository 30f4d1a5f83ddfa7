import fc from "fast-check";
import { createParser } from "../../agent/parse/index.js";
import type { ParserOptions } from "../../agent/parse/types.js";
import { contentId } from "../../agent/record/ids.js";

/**
 * Hostile input for the torture tests: fast-check values and raw random bytes, huge lengths,
 * deep JSON nesting, invalid UTF-8, non-finite and out-of-range numbers. Every payload handed out
 * as "bad" is one the agent's own parser refuses, checked here, so the test can demand that the
 * reject counters add up to exactly the number sent; the rare generated value a parser would
 * accept (fast-check does find `{"t":5,"sensor":"a"}`) is left out instead of guessed about.
 */

/** A small deterministic PRNG (mulberry32), so a failing run can be replayed by its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface FuzzOptions {
  seed: number;
  /** Largest payload the transport carries (MQTT: below maxPacketSize; serial: any). */
  maxBytes: number;
  /** Serial framing: no CR/LF inside a payload. */
  lineSafe: boolean;
  /** Parser options of the source under test. */
  parser: Partial<ParserOptions>;
  /** The MQTT topic the payloads go to (a parser may take the sensor from it). */
  topic?: string;
}

function randomBytes(rnd: () => number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rnd() * 256);
  return b;
}

function deepJson(depth: number, array: boolean): string {
  if (array) return `${"[".repeat(depth)}23.5${"]".repeat(depth)}`;
  return `${'{"a":'.repeat(depth)}{"sensor":"deep/x","temperature":23.5}${"}".repeat(depth)}`;
}

/** One hostile payload of a kind picked by `rnd`; huge and deep ones are rare, or they would be most of the bytes. */
function candidate(rnd: () => number, o: FuzzOptions, fcSamples: string[]): Buffer {
  const k = Math.floor(rnd() * 1000);
  if (k < 300) return randomBytes(rnd, 1 + Math.floor(rnd() * 300));
  if (k < 500) return Buffer.from(fcSamples[Math.floor(rnd() * fcSamples.length)]!);
  if (k < 600) {
    // Invalid UTF-8 inside an otherwise valid reading.
    const good = Buffer.from(`{"sensor":"utf/x","seq":${Math.floor(rnd() * 1e6)},"temperature":21.5}`);
    const at = 1 + Math.floor(rnd() * (good.length - 2));
    return Buffer.concat([good.subarray(0, at), Buffer.from([0xff, 0xfe, 0xc3]), good.subarray(at)]);
  }
  if (k < 700)
    return Buffer.from(
      `{"sensor":"num/x","temperature":${["1e999", "-1e999", '"NaN"', "null", "900", "-300", '"21,5"', "[]", "{}"][Math.floor(rnd() * 9)]}}`,
    );
  if (k < 800) return Buffer.from(fcSamples[Math.floor(rnd() * fcSamples.length)]!.slice(0, 40));
  if (k < 880) return Buffer.from(`{"temperature":${(rnd() * 40).toFixed(2)}}`); // no sensor
  if (k < 980) return Buffer.concat([Buffer.from('{"sensor":"cut/x","temperature":2'), randomBytes(rnd, 4)]);
  if (k < 995) return Buffer.from(deepJson(100 + Math.floor(rnd() * 5000), rnd() < 0.5));
  // Huge: near the transport's limit, or past the parser's own maxBytes.
  const n = Math.min(o.maxBytes - 64, 20_000 + Math.floor(rnd() * 80_000));
  return Buffer.from(`{"sensor":"big/x","temperature":21.5,"pad":"${"x".repeat(Math.max(0, n))}"`);
}

function lineSafe(b: Buffer): Buffer {
  for (let i = 0; i < b.length; i++) if (b[i] === 0x0a || b[i] === 0x0d) b[i] = 0x20;
  return b;
}

/** `n` payloads the parser rejects. */
export function badPayloads(n: number, o: FuzzOptions): Buffer[] {
  const rnd = prng(o.seed);
  const parser = createParser(o.parser);
  const fcSamples = fc
    .sample(
      fc.oneof(
        fc.string({ unit: "binary", maxLength: 200 }),
        fc.json({ maxDepth: 3 }),
        fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? "null"),
      ),
      { seed: o.seed, numRuns: 200 },
    )
    .filter((s) => s.length > 0);
  const out: Buffer[] = [];
  while (out.length < n) {
    let c = candidate(rnd, o, fcSamples);
    if (o.lineSafe) c = lineSafe(c);
    if (c.length === 0 || c.length > o.maxBytes) continue;
    // Serial drops empty lines and strips a trailing CR; MQTT hands payloads over as they are.
    if (o.lineSafe && c.toString("latin1").trim() === "") continue;
    if (parser.parse(c, o.topic === undefined ? {} : { topic: o.topic }).ok) continue;
    out.push(c);
  }
  return out;
}

/** A valid reading with its content id, for interleaving with the bad ones. */
export function goodPayload(sensor: string, seq: number): { id: string; payload: Buffer } {
  const ts = Date.UTC(2026, 10, 22) + seq * 1000;
  const temperature = 15 + (seq % 100) / 10;
  const id = contentId({ sensor, temperature, deviceTs: ts, deviceSeq: seq })!;
  return { id, payload: Buffer.from(JSON.stringify({ sensor, ts, seq, temperature })) };
}
