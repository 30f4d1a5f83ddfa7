import {
  GetRecordsCommand,
  type GetRecordsCommandOutput,
  GetShardIteratorCommand,
  type KinesisClient,
  type Shard,
  type ShardIteratorType,
} from "@aws-sdk/client-kinesis";
import { backoffDelay, sleep } from "../backoff.js";
import { compileFilter, type FilterFn } from "../pipeline/transforms/filter.js";
import {
  createKinesisClient,
  errorCode,
  type KinesisEndpoint,
  listAllShards,
} from "../sinks/kinesis/client.js";
import { type Logger, silentLogger } from "../telemetry/logger.js";
import { RateLimitedLog } from "../telemetry/ratelimit.js";
import { unpack } from "./deagg.js";
import { ConsumerStore, type StoredReading } from "./store.js";

export interface ConsumeOptions extends KinesisEndpoint {
  stream: string;
  /** SQLite file for readings and checkpoints. */
  db: string;
  /** Keep only readings matching this expression, e.g. `temperature >= 35`. */
  filter?: string | undefined;
  /** Where a shard without a checkpoint starts on the first run. */
  from?: "trim-horizon" | "latest";
  /** Keep reading until stopped (signal, SIGINT). */
  follow?: boolean;
  /** Stop once no new record arrived for this long. */
  untilIdleMs?: number | undefined;
  /** Pause between polls of a caught-up stream. */
  pollMs?: number;
  /** Least time between two GetRecords on one shard (Kinesis allows 5 a second per shard). */
  minPollIntervalMs?: number;
  /** GetRecords page size. */
  limit?: number;
  signal?: AbortSignal;
  log?: Logger;
  client?: KinesisClient;
}

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
}

interface ShardState {
  id: string;
  parents: string[];
  range: { start: bigint; end: bigint };
  open: boolean;
  iterator?: string | undefined;
  ended: boolean;
  /** The last poll returned nothing: caught up for now. */
  idle: boolean;
  nextPollAt: number;
  lastSequence?: string | undefined;
}

/**
 * A KCL-like reader (`edgespool consume`): every shard, parents drained to SHARD_END before their
 * children, one iterator per shard, checkpoints in SQLite so a restart resumes, KPL
 * de-aggregation, duplicates stored once. Without `follow` or `untilIdleMs` it stops when every
 * shard is caught up.
 */
export async function consumeStream(opts: ConsumeOptions): Promise<ConsumeStats> {
  const log = opts.log ?? silentLogger();
  const filter: FilterFn | undefined = opts.filter ? compileFilter(opts.filter) : undefined;
  const client = opts.client ?? createKinesisClient(opts);
  const store = new ConsumerStore(opts.db);
  const limiter = new RateLimitedLog(10_000);
  const stats: ConsumeStats = {
    kinesisRecords: 0,
    userRecords: 0,
    stored: 0,
    duplicates: 0,
    filtered: 0,
    invalid: 0,
    outOfShard: 0,
    shardsEnded: 0,
  };
  const shards = new Map<string, ShardState>();
  const firstRun = !store.hasCheckpoints(opts.stream);
  let startupListing = true;
  const warn = (key: string, fields: Record<string, unknown>, msg: string) => {
    const suppressed = limiter.take(key);
    if (suppressed >= 0) log.warn({ ...fields, suppressed }, msg);
  };

  async function refreshShards(): Promise<void> {
    const listed: Shard[] = await listAllShards(client, opts.stream, opts.signal);
    for (const s of listed) {
      if (!s.ShardId || shards.has(s.ShardId)) continue;
      const open = !s.SequenceNumberRange?.EndingSequenceNumber;
      const cp = store.checkpoint(opts.stream, s.ShardId);
      // `--from latest` skips history: shards already closed at the first start are not read.
      const skip = !cp && firstRun && startupListing && opts.from === "latest" && !open;
      if (skip) store.commit(opts.stream, s.ShardId, [], null, true);
      shards.set(s.ShardId, {
        id: s.ShardId,
        parents: [s.ParentShardId, s.AdjacentParentShardId].filter((p): p is string => !!p),
        range: {
          start: BigInt(s.HashKeyRange!.StartingHashKey!),
          end: BigInt(s.HashKeyRange!.EndingHashKey!),
        },
        open,
        ended: skip || (cp?.ended ?? false),
        idle: false,
        nextPollAt: 0,
        lastSequence: cp?.sequenceNumber ?? undefined,
      });
    }
    startupListing = false;
  }

  /** A shard is readable once every parent still listed has reached SHARD_END (KCL's rule). */
  const readable = (s: ShardState) => !s.ended && s.parents.every((p) => shards.get(p)?.ended ?? true);

  async function iteratorFor(s: ShardState): Promise<string | undefined> {
    let type: ShardIteratorType = "TRIM_HORIZON";
    if (s.lastSequence) type = "AFTER_SEQUENCE_NUMBER";
    else if (firstRun && opts.from === "latest" && s.open && s.parents.length === 0) type = "LATEST";
    const res = await client.send(
      new GetShardIteratorCommand({
        StreamName: opts.stream,
        ShardId: s.id,
        ShardIteratorType: type,
        ...(type === "AFTER_SEQUENCE_NUMBER" ? { StartingSequenceNumber: s.lastSequence } : {}),
      }),
      opts.signal ? { abortSignal: opts.signal } : {},
    );
    return res.ShardIterator;
  }

  function toReading(data: Buffer): StoredReading | undefined {
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

  function apply(s: ShardState, res: GetRecordsCommandOutput): void {
    const readings: StoredReading[] = [];
    for (const r of res.Records ?? []) {
      stats.kinesisRecords++;
      const u = unpack(r.Data ?? new Uint8Array(), r.PartitionKey ?? "", s.range);
      if (u.kind === "out-of-shard") {
        stats.outOfShard++;
        warn(
          `oos:${s.id}`,
          { shard: s.id, records: u.count },
          "aggregate outside its shard's hash range dropped",
        );
        continue;
      }
      if (u.kind === "corrupt") {
        stats.invalid++;
        warn("corrupt", { shard: s.id, err: u.error }, "undecodable Kinesis record skipped");
        continue;
      }
      for (const user of u.users) {
        stats.userRecords++;
        const before = stats.filtered;
        const reading = toReading(user.data);
        if (reading) readings.push(reading);
        else if (stats.filtered === before) {
          stats.invalid++;
          warn("invalid", { shard: s.id }, "user record is not an edgespool record; skipped");
        }
      }
    }
    const last = res.Records?.at(-1)?.SequenceNumber ?? null;
    const ended = !res.NextShardIterator;
    const stored = store.commit(opts.stream, s.id, readings, last, ended);
    stats.stored += stored;
    stats.duplicates += readings.length - stored;
    if (last) s.lastSequence = last;
    if (ended) {
      s.ended = true;
      stats.shardsEnded++;
      log.info({ shard: s.id }, "shard reached SHARD_END");
    }
  }

  /** One GetRecords on a shard; returns how many Kinesis records it brought. */
  async function poll(s: ShardState): Promise<number> {
    s.iterator ??= await iteratorFor(s);
    if (!s.iterator) {
      apply(s, { Records: [], NextShardIterator: undefined, $metadata: {} });
      return 0;
    }
    const res = await client.send(
      new GetRecordsCommand({ ShardIterator: s.iterator, Limit: opts.limit ?? 10_000 }),
      opts.signal ? { abortSignal: opts.signal } : {},
    );
    apply(s, res);
    s.iterator = res.NextShardIterator;
    const n = res.Records?.length ?? 0;
    s.idle = n === 0;
    return n;
  }

  const pollMs = opts.pollMs ?? 250;
  const minPollMs = opts.minPollIntervalMs ?? 200;
  let lastRecordAt = Date.now();
  let failures = 0;
  let lastListing = 0;
  try {
    while (!opts.signal?.aborted) {
      let got = 0;
      try {
        const ending = [...shards.values()].some((s) => s.ended && s.open);
        if (shards.size === 0 || ending || Date.now() - lastListing > 5_000) {
          await refreshShards();
          lastListing = Date.now();
          for (const s of shards.values()) if (s.ended) s.open = false;
        }
        for (const s of shards.values()) {
          if (!readable(s) || Date.now() < s.nextPollAt) continue;
          s.nextPollAt = Date.now() + minPollMs;
          got += await poll(s);
        }
        failures = 0;
      } catch (err) {
        if (opts.signal?.aborted) break;
        const code = errorCode(err);
        if (code === "ExpiredIteratorException") for (const s of shards.values()) s.iterator = undefined;
        warn(
          `err:${code}`,
          { code, err: err instanceof Error ? err.message : String(err) },
          "kinesis read failed",
        );
        if (++failures > 8 && !opts.follow) throw err;
        await sleep(backoffDelay(failures, { initialMs: 200, maxMs: 5_000 }), opts.signal);
        continue;
      }
      const now = Date.now();
      if (got > 0) {
        lastRecordAt = now;
        const next = Math.min(...[...shards.values()].filter(readable).map((s) => s.nextPollAt));
        if (next > now) await sleep(next - now, opts.signal);
        continue;
      }
      if (opts.untilIdleMs !== undefined && now - lastRecordAt >= opts.untilIdleMs) break;
      if (!opts.follow && opts.untilIdleMs === undefined) {
        const pending = [...shards.values()].filter((s) => !s.ended);
        if (pending.every((s) => s.idle && readable(s))) break;
      }
      await sleep(pollMs, opts.signal);
    }
  } finally {
    store.close();
    if (!opts.client) client.destroy();
  }
  return stats;
}
