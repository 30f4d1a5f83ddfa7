import {
  GetRecordsCommand,
  type GetRecordsCommandOutput,
  GetShardIteratorCommand,
  type KinesisClient,
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
import { LeaseCoordinator } from "./coordinator.js";
import { createDynamoClient, DynamoReadings } from "./dynamo.js";
import { LATEST, LeaseTable, TRIM_HORIZON } from "./leases.js";
import { type ConsumeStats, decodePage, emptyStats } from "./page.js";
import { type Destination, LeaseProgress, LocalProgress, type Progress, type ShardInfo } from "./progress.js";
import { ConsumerStore } from "./store.js";

export type { ConsumeStats } from "./page.js";

export interface ConsumeOptions extends KinesisEndpoint {
  stream: string;
  /** SQLite file for readings (without `table`) and checkpoints (without `app`). */
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
  /** DynamoDB table for the readings instead of the SQLite file (created if missing). */
  table?: string | undefined;
  /** DynamoDB endpoint, e.g. http://127.0.0.1:4568 for dynalite. */
  dynamodbEndpoint?: string | undefined;
  /** Share the stream with other workers of this application through the lease table `app`. */
  app?: string | undefined;
  /** This worker's name in the lease table. */
  worker?: string | undefined;
  /** Failover time: a lease not renewed for this long is taken over. */
  leaseMs?: number;
  signal?: AbortSignal;
  log?: Logger;
  client?: KinesisClient;
}

interface ShardState extends ShardInfo {
  start: string;
  iterator?: string | undefined;
  /** The last poll returned nothing: caught up for now. */
  idle: boolean;
  nextPollAt: number;
}

/**
 * A KCL-like reader: parents drained to SHARD_END before their children, one iterator per
 * shard, checkpoints so a restart resumes, KPL de-aggregation, duplicates stored once. Alone it
 * reads every shard; with `app`, it reads the shards whose leases it holds. Without `follow`
 * or `untilIdleMs` a lone consumer stops when every shard is caught up (a worker with `app`
 * keeps going: its share changes as others come and go).
 */
export async function consumeStream(opts: ConsumeOptions): Promise<ConsumeStats> {
  const log = opts.log ?? silentLogger();
  const filter: FilterFn | undefined = opts.filter ? compileFilter(opts.filter) : undefined;
  const client = opts.client ?? createKinesisClient(opts);
  const local = new ConsumerStore(opts.db);
  const limiter = new RateLimitedLog(10_000);
  const stats = emptyStats();
  const from = opts.from ?? "trim-horizon";
  const warn = (key: string, fields: Record<string, unknown>, msg: string) => {
    const suppressed = limiter.take(key);
    if (suppressed >= 0) log.warn({ ...fields, suppressed }, msg);
  };
  const ddb =
    opts.table || opts.app ? createDynamoClient({ ...opts, endpoint: opts.dynamodbEndpoint }) : undefined;
  let progress: Progress | undefined;
  const listing = new Map<string, ShardInfo>();
  const shards = new Map<string, ShardState>();

  async function refreshShards(): Promise<void> {
    for (const s of await listAllShards(client, opts.stream, opts.signal)) {
      if (!s.ShardId) continue;
      listing.set(s.ShardId, {
        id: s.ShardId,
        parents: [s.ParentShardId, s.AdjacentParentShardId].filter((p): p is string => !!p),
        range: {
          start: BigInt(s.HashKeyRange!.StartingHashKey!),
          end: BigInt(s.HashKeyRange!.EndingHashKey!),
        },
        open: !s.SequenceNumberRange?.EndingSequenceNumber,
      });
    }
    await progress!.sync([...listing.values()]);
  }

  /** Follows the assignment: new shards get a state from their checkpoint, lost ones are dropped. */
  function reassign(): boolean {
    const mine = progress!.assigned();
    let missing = false;
    for (const id of shards.keys()) if (!mine.has(id)) shards.delete(id);
    for (const [id, start] of mine) {
      if (shards.has(id)) continue;
      const info = listing.get(id);
      if (!info) {
        missing = true;
        continue;
      }
      shards.set(id, { ...info, start, idle: false, nextPollAt: 0 });
    }
    return missing;
  }

  async function iteratorFor(s: ShardState): Promise<string | undefined> {
    const type: ShardIteratorType =
      s.start === TRIM_HORIZON ? "TRIM_HORIZON" : s.start === LATEST ? "LATEST" : "AFTER_SEQUENCE_NUMBER";
    const res = await client.send(
      new GetShardIteratorCommand({
        StreamName: opts.stream,
        ShardId: s.id,
        ShardIteratorType: type,
        ...(type === "AFTER_SEQUENCE_NUMBER" ? { StartingSequenceNumber: s.start } : {}),
      }),
      opts.signal ? { abortSignal: opts.signal } : {},
    );
    return res.ShardIterator;
  }

  async function apply(s: ShardState, res: GetRecordsCommandOutput): Promise<void> {
    const readings = decodePage(s.id, s.range, res.Records ?? [], filter, stats, warn);
    const last = res.Records?.at(-1)?.SequenceNumber ?? null;
    const ended = !res.NextShardIterator;
    const { stored, kept } = await progress!.commit({
      shardId: s.id,
      readings,
      lastSequence: last,
      ended,
      millisBehindLatest: res.MillisBehindLatest,
    });
    stats.stored += stored;
    stats.duplicates += readings.length - stored;
    if (!kept) {
      stats.leasesLost++;
      shards.delete(s.id);
      log.warn(
        { shard: s.id, worker: opts.worker },
        "lease lost: checkpoint not moved, shard left to its new owner",
      );
      return;
    }
    if (last) s.start = last;
    if (ended) {
      shards.delete(s.id);
      stats.shardsEnded++;
      log.info({ shard: s.id }, "shard reached SHARD_END");
    }
  }

  /** One GetRecords on a shard; returns how many Kinesis records it brought. */
  async function poll(s: ShardState): Promise<number> {
    s.iterator ??= await iteratorFor(s);
    if (!s.iterator) {
      await apply(s, { Records: [], NextShardIterator: undefined, $metadata: {} });
      return 0;
    }
    const res = await client.send(
      new GetRecordsCommand({ ShardIterator: s.iterator, Limit: opts.limit ?? 10_000 }),
      opts.signal ? { abortSignal: opts.signal } : {},
    );
    await apply(s, res);
    s.iterator = res.NextShardIterator;
    const n = res.Records?.length ?? 0;
    s.idle = n === 0;
    return n;
  }

  const pollMs = opts.pollMs ?? 250;
  const minPollMs = opts.minPollIntervalMs ?? 200;
  const follow = opts.follow === true || (opts.app !== undefined && opts.untilIdleMs === undefined);
  let lastRecordAt = Date.now();
  let failures = 0;
  let lastListing = 0;
  let shardEnded = false;
  try {
    let dest: Destination = { kind: "sqlite" };
    if (opts.table) {
      const table = new DynamoReadings(ddb!, opts.table);
      await table.ensure(opts.signal);
      dest = { kind: "dynamodb", table };
    }
    if (opts.app) {
      const leases = new LeaseTable(ddb!, opts.app);
      await leases.ensure(opts.signal);
      const coordinator = new LeaseCoordinator(leases, {
        worker: opts.worker ?? `${process.pid}`,
        leaseMs: opts.leaseMs ?? 10_000,
        log,
      });
      progress = new LeaseProgress(coordinator, local, dest, opts.stream, from);
      // The first take round runs at once; leases for the shards follow the first listing below.
      coordinator.start();
    } else progress = new LocalProgress(local, dest, opts.stream, from);
    while (!opts.signal?.aborted) {
      let got = 0;
      try {
        const ended = stats.shardsEnded;
        if (lastListing === 0 || shardEnded || Date.now() - lastListing > 5_000) {
          await refreshShards();
          lastListing = Date.now();
          shardEnded = false;
        }
        if (reassign()) lastListing = 0;
        for (const s of shards.values()) {
          if (Date.now() < s.nextPollAt) continue;
          s.nextPollAt = Date.now() + minPollMs;
          got += await poll(s);
        }
        shardEnded = stats.shardsEnded > ended;
        failures = 0;
      } catch (err) {
        if (opts.signal?.aborted) break;
        const code = errorCode(err);
        if (code === "ExpiredIteratorException") for (const s of shards.values()) s.iterator = undefined;
        warn(`err:${code}`, { code, err: err instanceof Error ? err.message : String(err) }, "read failed");
        if (++failures > 8 && !follow) throw err;
        await sleep(backoffDelay(failures, { initialMs: 200, maxMs: 5_000 }), opts.signal);
        continue;
      }
      const now = Date.now();
      if (got > 0) {
        lastRecordAt = now;
        const next = Math.min(...[...shards.values()].map((s) => s.nextPollAt));
        if (next > now) await sleep(next - now, opts.signal);
        continue;
      }
      if (opts.untilIdleMs !== undefined && now - lastRecordAt >= opts.untilIdleMs) break;
      if (!follow && opts.untilIdleMs === undefined && !shardEnded) {
        if ([...shards.values()].every((s) => s.idle)) break;
      }
      await sleep(pollMs, opts.signal);
    }
  } finally {
    await progress?.close();
    local.close();
    ddb?.destroy();
    if (!opts.client) client.destroy();
  }
  return stats;
}
