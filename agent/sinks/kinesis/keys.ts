import { createHash, randomBytes } from "node:crypto";
import { decodeRecord, type OutRecord } from "../../record/record.js";
import { KINESIS_LIMITS } from "./config.js";

/** Kinesis maps a partition key to a shard by the MD5 of its UTF-8 bytes, read as a 128-bit number. */
export function hashKeyOf(partitionKey: string): bigint {
  return BigInt(`0x${createHash("md5").update(partitionKey, "utf8").digest("hex")}`);
}

export type PartitionKeyFn = (r: OutRecord) => string;

/**
 * Kinesis allows 1-256 characters. A longer key is shortened to a prefix plus its MD5, so the
 * same sensor still maps to the same key (and shard, and order) every time.
 */
export function fitPartitionKey(key: string): string {
  if (key.length === 0) return "-";
  if (key.length <= KINESIS_LIMITS.partitionKeyChars) return key;
  const md5 = createHash("md5").update(key, "utf8").digest("hex");
  return `${key.slice(0, KINESIS_LIMITS.partitionKeyChars - md5.length - 1)}~${md5}`;
}

/**
 * `sensor` (default: one sensor's readings stay on one shard, in order), `agent`, `random`, or a
 * template over the record's fields: `{agent}/{sensor}`, `{source}`, `{attrs.room}`. A missing
 * field renders empty; a key that renders empty falls back to the sensor.
 */
export function partitionKeyFn(spec: string, agentId: string): PartitionKeyFn {
  if (spec === "sensor") return (r) => fitPartitionKey(r.sensor);
  if (spec === "agent") {
    const key = fitPartitionKey(agentId);
    return () => key;
  }
  if (spec === "random") return () => randomBytes(12).toString("base64url");
  const parts = spec.split(/(\{[^{}]+\})/).filter((p) => p !== "");
  return (r) => {
    let body: Record<string, unknown> | undefined;
    let out = "";
    for (const p of parts) {
      if (!(p.startsWith("{") && p.endsWith("}"))) {
        out += p;
        continue;
      }
      const name = p.slice(1, -1);
      if (name === "sensor") out += r.sensor;
      else if (name === "id") out += r.id;
      else if (name === "agent") out += agentId;
      else {
        body ??= safeDecode(r.body);
        const v = lookup(body, name);
        if (v !== undefined && v !== null && typeof v !== "object") out += String(v);
      }
    }
    return fitPartitionKey(out === "" ? r.sensor : out);
  };
}

function safeDecode(body: string): Record<string, unknown> {
  try {
    const v: unknown = decodeRecord(body);
    return v && typeof v === "object" ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function lookup(obj: Record<string, unknown>, path: string): unknown {
  let cur: unknown = obj;
  for (const k of path.split(".")) {
    if (cur === null || typeof cur !== "object" || !Object.hasOwn(cur, k)) return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}
