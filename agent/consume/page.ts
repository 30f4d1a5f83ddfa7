import type { _Record } from "@aws-sdk/client-kinesis";
import type { FilterFn } from "../pipeline/transforms/filter.js";
import { unpack } from "./deagg.js";
import type { StoredReading } from "./store.js";

export interface ConsumeStats {
  kinesisRecords: number;
  userRecords: number;
  stored: number;
  duplicates: number;
  filtered: number;
  invalid: number;
  /** Aggregates dropped because a user record in them hashes outside their shard (as KCL does). */
  outOfShard: number;
  shardsEnded: number;
  /** Leases this worker lost to another one (with `--app`); its checkpoint did not move. */
  leasesLost: number;
}

export function emptyStats(): ConsumeStats {
  return {
    kinesisRecords: 0,
    userRecords: 0,
    stored: 0,
    duplicates: 0,
    filtered: 0,
    invalid: 0,
    outOfShard: 0,
    shardsEnded: 0,
    leasesLost: 0,
  };
}

export type Warn = (key: string, fields: Record<string, unknown>, msg: string) => void;

/** One user record as a reading, or undefined (counted as filtered or invalid). */
function toReading(
  data: Buffer,
  filter: FilterFn | undefined,
  stats: ConsumeStats,
): StoredReading | undefined {
  let v: unknown;
  try {
    v = JSON.parse(data.toString("utf8"));
  } catch {
    return undefined;
  }
  if (!v || typeof v !== "object") return undefined;
  const o = v as Record<string, unknown>;
  if (typeof o.id !== "string" || o.id === "" || typeof o.sensor !== "string") return undefined;
  if (filter && !filter(o)) {
    stats.filtered++;
    return undefined;
  }
  const num = (x: unknown) => (typeof x === "number" && Number.isFinite(x) ? x : null);
  return {
    id: o.id,
    sensor: o.sensor,
    ts: typeof o.ts === "string" ? o.ts : null,
    temperature: num(o.temperature),
    humidity: num(o.humidity),
    seq: num(o.seq),
    body: data.toString("utf8"),
  };
}

/**
 * A GetRecords page as the readings to keep: KPL de-aggregation (with the KCL's shard check),
 * parsing and the filter, counting everything that is dropped and why.
 */
export function decodePage(
  shardId: string,
  range: { start: bigint; end: bigint },
  records: readonly _Record[],
  filter: FilterFn | undefined,
  stats: ConsumeStats,
  warn: Warn,
): StoredReading[] {
  const readings: StoredReading[] = [];
  for (const r of records) {
    stats.kinesisRecords++;
    const u = unpack(r.Data ?? new Uint8Array(), r.PartitionKey ?? "", range);
    if (u.kind === "out-of-shard") {
      stats.outOfShard++;
      warn(
        `oos:${shardId}`,
        { shard: shardId, records: u.count },
        "aggregate outside its shard's hash range dropped",
      );
      continue;
    }
    if (u.kind === "corrupt") {
      stats.invalid++;
      warn("corrupt", { shard: shardId, err: u.error }, "undecodable Kinesis record skipped");
      continue;
    }
    for (const user of u.users) {
      stats.userRecords++;
      const before = stats.filtered;
      const reading = toReading(user.data, filter, stats);
      if (reading) readings.push(reading);
      else if (stats.filtered === before) {
        stats.invalid++;
        warn("invalid", { shard: shardId }, "user record is not an edgespool record; skipped");
      }
    }
  }
  return readings;
}
