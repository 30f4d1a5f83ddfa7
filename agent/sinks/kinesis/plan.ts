import { KplAggregate, singleAggregateSize } from "./aggregate.js";
import type { ShardBudget } from "./bucket.js";
import { KINESIS_LIMITS } from "./config.js";
import type { ShardMap } from "./shards.js";

/** One reading on its way: where it sits in the batch, its key, and how often it failed. */
export interface UserRecord {
  index: number;
  partitionKey: string;
  keyBytes: number;
  hash: bigint;
  data: Buffer;
  attempts: number;
}

/** One entry of a PutRecords call: a single reading, or a KPL aggregate of one shard's readings. */
export interface Entry {
  shardId: string;
  users: UserRecord[];
  partitionKey: string;
  explicitHashKey?: string;
  data: Buffer;
  size: number;
}

export interface Round {
  entries: Entry[];
  /** When nothing could be sent: how long until a shard's budget allows the next entry. */
  waitMs: number;
  /** A record whose hash key no open shard covers: the shard map needs a refresh. */
  unmapped: boolean;
}

/** Bytes one reading takes as a Kinesis record (its data and partition key), alone or aggregated. */
export function recordSize(u: Pick<UserRecord, "keyBytes" | "data">, aggregation: boolean): number {
  return aggregation ? singleAggregateSize(u.keyBytes, u.data.length) : u.data.length + u.keyBytes;
}

type Budgets = (shardId: string) => ShardBudget | undefined;

/**
 * Aggregated: at most one aggregate per shard per call, so a failed aggregate is retried before
 * anything after it on that shard (per-sensor order), and each is sized to what the shard's
 * budget takes right now. The aggregate's explicit hash key is its first reading's, which lies in
 * the shard's range like every other reading in it (shard-consistent, as KCL requires).
 */
export function planAggregated(
  pending: readonly UserRecord[],
  map: ShardMap,
  budgets: Budgets,
  maxAggregateBytes: number = KINESIS_LIMITS.bytesPerRecord,
): Round {
  const byShard = new Map<string, UserRecord[]>();
  for (const u of pending) {
    const shard = map.lookup(u.hash);
    if (!shard) return { entries: [], waitMs: 0, unmapped: true };
    const list = byShard.get(shard.id);
    if (list) list.push(u);
    else byShard.set(shard.id, [u]);
  }
  const entries: Entry[] = [];
  let callBytes = 0;
  let waitMs = Number.POSITIVE_INFINITY;
  for (const [shardId, users] of byShard) {
    if (entries.length >= KINESIS_LIMITS.recordsPerCall) break;
    const budget = budgets(shardId);
    const limit = Math.min(
      KINESIS_LIMITS.bytesPerCall - callBytes,
      budget?.allowance() ?? Number.POSITIVE_INFINITY,
    );
    // The first reading may fill a whole Kinesis record; later ones stop at maxAggregateBytes.
    const agg = new KplAggregate(KINESIS_LIMITS.bytesPerRecord);
    const taken: UserRecord[] = [];
    for (const u of users) {
      const cap = taken.length === 0 ? limit : Math.min(limit, maxAggregateBytes);
      if (!agg.tryAdd(u.partitionKey, u.data, cap)) break;
      taken.push(u);
    }
    if (taken.length === 0 || (budget && !budget.tryTake(1, agg.size))) {
      if (budget) waitMs = Math.min(waitMs, Math.max(1, budget.waitMs(1, recordSize(users[0]!, true))));
      continue;
    }
    callBytes += agg.size;
    entries.push({
      shardId,
      users: taken,
      partitionKey: agg.partitionKey!,
      explicitHashKey: taken[0]!.hash.toString(),
      data: agg.encode(),
      size: agg.size,
    });
  }
  return { entries, waitMs: entries.length > 0 ? 0 : waitMs, unmapped: false };
}

/**
 * One reading per Kinesis record, in batch order, up to 500 records / 5 MiB a call. A shard whose
 * budget runs out is skipped for the rest of the call, so its readings keep their order.
 */
export function planSingle(pending: readonly UserRecord[], map: ShardMap, budgets: Budgets): Round {
  const entries: Entry[] = [];
  const blocked = new Set<string>();
  let callBytes = 0;
  let waitMs = Number.POSITIVE_INFINITY;
  for (const u of pending) {
    if (entries.length >= KINESIS_LIMITS.recordsPerCall) break;
    const shard = map.lookup(u.hash);
    if (!shard) return { entries: [], waitMs: 0, unmapped: true };
    if (blocked.has(shard.id)) continue;
    const size = recordSize(u, false);
    if (callBytes + size > KINESIS_LIMITS.bytesPerCall) break;
    const budget = budgets(shard.id);
    if (budget && !budget.tryTake(1, size)) {
      blocked.add(shard.id);
      waitMs = Math.min(waitMs, Math.max(1, budget.waitMs(1, size)));
      continue;
    }
    callBytes += size;
    entries.push({ shardId: shard.id, users: [u], partitionKey: u.partitionKey, data: u.data, size });
  }
  return { entries, waitMs: entries.length > 0 ? 0 : waitMs, unmapped: false };
}
