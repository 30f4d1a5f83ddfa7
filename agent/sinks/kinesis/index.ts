import { type KinesisClient, PutRecordsCommand, type PutRecordsResultEntry } from "@aws-sdk/client-kinesis";
import { backoffDelay, sleep } from "../../backoff.js";
import type { OutRecord } from "../../record/record.js";
import { errText, safeUrl } from "../../telemetry/redact.js";
import { type Sink, type SinkContext, SinkError, type WriteResult } from "../sink.js";
import { ShardBudget } from "./bucket.js";
import { createKinesisClient, errorCode } from "./client.js";
import { KINESIS_LIMITS, type KinesisSinkConfig } from "./config.js";
import { hashKeyOf, partitionKeyFn } from "./keys.js";
import { type Entry, planAggregated, planSingle, recordSize, type UserRecord } from "./plan.js";
import { ShardMap } from "./shards.js";

/** Counters a test or benchmark can read; the same events also go to telemetry. */
export interface KinesisSinkStats {
  calls: number;
  entriesSent: number;
  entriesFailed: number;
  throttled: number;
  misplaced: number;
  shardMaps: number;
}

export interface KinesisSink extends Sink {
  stats(): KinesisSinkStats;
}

/** Errors that hint the stream changed shape under us: re-read the shard map before the next try. */
const RESHARD_CODES = new Set([
  "InvalidArgumentException",
  "ResourceInUseException",
  "ResourceNotFoundException",
]);
const THROTTLE = "ProvisionedThroughputExceededException";
/** In-call backoff between rounds with failed entries: short, the shipping loop owns the long waits. */
const ENTRY_BACKOFF = { initialMs: 50, maxMs: 1000 };

/**
 * Kinesis Data Streams sink. Inside one `write`: KPL aggregation per shard, the
 * per-shard budget, and a few quick retries of failed entries. Handed back to the shipping
 * loop: readings that still fail after `entryAttempts` (`retry`, with every later reading of the
 * same shard so order holds), readings that can never fit (`rejected`), and failures of a whole
 * request (`SinkError`, the same records and ids are resent).
 */
export function createKinesisSink(
  cfg: KinesisSinkConfig,
  ctx: SinkContext,
  deps: { client?: KinesisClient; now?: () => number } = {},
): KinesisSink {
  const now = deps.now ?? Date.now;
  const client = deps.client ?? createKinesisClient(cfg);
  const keyOf = partitionKeyFn(cfg.partitionKey, ctx.agentId);
  const stats: KinesisSinkStats = {
    calls: 0,
    entriesSent: 0,
    entriesFailed: 0,
    throttled: 0,
    misplaced: 0,
    shardMaps: 0,
  };
  const map = new ShardMap(
    client,
    cfg.stream,
    cfg.shardRefreshMs,
    (shards) => {
      stats.shardMaps++;
      ctx.log.info(
        {
          sink: cfg.id,
          stream: cfg.stream,
          ...(cfg.endpoint === undefined ? {} : { endpoint: safeUrl(cfg.endpoint) }),
          shards: shards.map((s) => s.id),
        },
        "kinesis shard map",
      );
    },
    now,
  );
  const budgets = new Map<string, ShardBudget>();
  const budgetOf = (shardId: string): ShardBudget | undefined => {
    if (!cfg.shardLimits.enabled) return undefined;
    let b = budgets.get(shardId);
    if (!b) {
      b = new ShardBudget(cfg.shardLimits.recordsPerSecond, cfg.shardLimits.bytesPerSecond, now);
      budgets.set(shardId, b);
    }
    return b;
  };
  let closed = false;

  function wholeFailure(err: unknown): SinkError {
    if (err instanceof SinkError) return err;
    const code = errorCode(err);
    if (RESHARD_CODES.has(code)) map.markStale();
    const msg = errText(err);
    return new SinkError(`kinesis ${cfg.stream}: ${msg}`, code, true, undefined, { cause: err });
  }

  /** Splits a batch into readings to send and readings that can never fit a Kinesis record. */
  function prepare(batch: readonly OutRecord[]): {
    pending: UserRecord[];
    rejected: WriteResult["rejected"];
  } {
    const pending: UserRecord[] = [];
    const rejected: NonNullable<WriteResult["rejected"]> = [];
    const hashes = new Map<string, bigint>();
    batch.forEach((r, index) => {
      const partitionKey = keyOf(r);
      let hash = hashes.get(partitionKey);
      if (hash === undefined) {
        hash = hashKeyOf(partitionKey);
        hashes.set(partitionKey, hash);
      }
      const u = {
        index,
        partitionKey,
        keyBytes: Buffer.byteLength(partitionKey),
        hash,
        data: Buffer.from(r.body, "utf8"),
        attempts: 0,
      };
      const size = recordSize(u, cfg.aggregation);
      if (size > KINESIS_LIMITS.bytesPerRecord) {
        rejected.push({ index, reason: `too-large: ${size} bytes with partition key, Kinesis allows 1 MiB` });
      } else pending.push(u);
    });
    return { pending, rejected };
  }

  async function put(entries: Entry[], signal: AbortSignal): Promise<PutRecordsResultEntry[]> {
    stats.calls++;
    stats.entriesSent += entries.length;
    const res = await client.send(
      new PutRecordsCommand({
        StreamName: cfg.stream,
        Records: entries.map((e) => ({
          PartitionKey: e.partitionKey,
          Data: e.data,
          ...(e.explicitHashKey ? { ExplicitHashKey: e.explicitHashKey } : {}),
        })),
      }),
      { abortSignal: signal },
    );
    return res.Records ?? [];
  }

  /** Sorts one call's answers into accepted readings and failures; returns the readings accepted. */
  function settle(
    entries: Entry[],
    answers: PutRecordsResultEntry[],
  ): { done: Set<UserRecord>; failed: number; worst: number } {
    const done = new Set<UserRecord>();
    const failures = new Map<string, number>();
    let worst = 0;
    entries.forEach((e, i) => {
      const a = answers[i];
      let code = a?.ErrorCode ?? (a?.SequenceNumber ? undefined : "MissingResult");
      if (!code && a?.ShardId !== e.shardId) {
        // Landed on another shard: the stream was resharded. A single reading is fine wherever
        // Kinesis put it; an aggregate there would be dropped by KCL, so it is resent.
        stats.misplaced++;
        map.markStale();
        if (cfg.aggregation) code = "ShardMismatch";
      }
      if (!code) {
        for (const u of e.users) done.add(u);
        return;
      }
      if (code === THROTTLE) {
        stats.throttled++;
        budgetOf(e.shardId)?.drain();
      }
      for (const u of e.users) worst = Math.max(worst, ++u.attempts);
      failures.set(code, (failures.get(code) ?? 0) + 1);
    });
    let failed = 0;
    for (const [code, n] of failures) {
      failed += n;
      ctx.telemetry.sinkError(cfg.id, code, `${n} of ${entries.length} Kinesis records failed`, true);
    }
    stats.entriesFailed += failed;
    return { done, failed, worst };
  }

  /** Takes out the readings of every shard whose head reading used up its attempts. */
  function park(pending: UserRecord[]): { keep: UserRecord[]; parked: UserRecord[] } {
    const exhausted = new Set<string>();
    for (const u of pending) {
      if (u.attempts >= cfg.entryAttempts) exhausted.add(map.lookup(u.hash)?.id ?? "?");
    }
    if (exhausted.size === 0) return { keep: pending, parked: [] };
    const keep: UserRecord[] = [];
    const parked: UserRecord[] = [];
    for (const u of pending) (exhausted.has(map.lookup(u.hash)?.id ?? "?") ? parked : keep).push(u);
    return { keep, parked };
  }

  return {
    id: cfg.id,
    type: "kinesis",
    stats: () => ({ ...stats }),

    async start() {
      try {
        await map.ensure();
      } catch (err) {
        throw wholeFailure(err);
      }
    },

    async write(batch, signal) {
      if (closed) throw new SinkError("kinesis sink closed", "closed", true);
      const prepared = prepare(batch);
      let pending = prepared.pending;
      const rejected = prepared.rejected ?? [];
      const parked: UserRecord[] = [];
      let accepted = 0;
      let unmappedRounds = 0;
      const result = (): WriteResult => {
        const retry = [...pending, ...parked].map((u) => u.index).sort((a, b) => a - b);
        return {
          ...(rejected.length > 0 ? { rejected } : {}),
          ...(retry.length > 0 ? { retry } : {}),
        };
      };
      while (pending.length > 0) {
        if (signal.aborted) throw new SinkError("kinesis write aborted", "aborted", true);
        let answers: PutRecordsResultEntry[];
        let entries: Entry[];
        try {
          await map.ensure(signal);
          const round = cfg.aggregation
            ? planAggregated(pending, map, budgetOf, cfg.maxAggregateBytes)
            : planSingle(pending, map, budgetOf);
          if (round.unmapped) {
            map.markStale();
            if (unmappedRounds++ >= cfg.entryAttempts)
              throw new SinkError("no open shard covers a hash key", "NoShard", true);
            await sleep(backoffDelay(unmappedRounds, ENTRY_BACKOFF), signal);
            continue;
          }
          if (round.entries.length === 0) {
            if (!Number.isFinite(round.waitMs))
              throw new SinkError("no entry fits a call", "Unplannable", true);
            await sleep(Math.min(round.waitMs, 1000), signal);
            continue;
          }
          entries = round.entries;
          answers = await put(entries, signal);
        } catch (err) {
          // Nothing accepted yet: the loop resends the same batch. Otherwise only what is left.
          if (accepted === 0 || signal.aborted) throw wholeFailure(err);
          const e = wholeFailure(err);
          ctx.telemetry.sinkError(cfg.id, e.code, e, true);
          return result();
        }
        const { done, failed, worst } = settle(entries, answers);
        accepted += done.size;
        pending = pending.filter((u) => !done.has(u));
        const split = park(pending);
        pending = split.keep;
        parked.push(...split.parked);
        // Back off by how often the worst entry failed, not by rounds: scattered one-off failures
        // on a busy stream must not pile up into long sleeps.
        if (failed > 0) await sleep(backoffDelay(worst - 1, ENTRY_BACKOFF), signal);
        unmappedRounds = 0;
      }
      return result();
    },

    async close() {
      if (closed) return;
      closed = true;
      if (!deps.client) client.destroy();
    },
  };
}
