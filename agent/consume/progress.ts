import type { LeaseCoordinator } from "./coordinator.js";
import type { DynamoReadings } from "./dynamo.js";
import { LATEST, SHARD_END, TRIM_HORIZON } from "./leases.js";
import type { ConsumerStore, StoredReading } from "./store.js";

/** A shard as ListShards describes it. */
export interface ShardInfo {
  id: string;
  parents: string[];
  range: { start: bigint; end: bigint };
  open: boolean;
}

/** Where reading a shard starts: TRIM_HORIZON, LATEST, or after this sequence number. */
export type StartAt = string;

/**
 * Which shards this consumer reads and where it keeps its progress: locally (every shard, one
 * process, checkpoints in the SQLite file) or through a lease table shared by several workers.
 */
export interface Progress {
  /** Sees every listing of the stream's shards. */
  sync(listed: readonly ShardInfo[]): Promise<void>;
  /** The shards to read now, each with where to start. Parents come before their children. */
  assigned(): Map<string, StartAt>;
  /**
   * Stores a page's readings, then moves the shard's checkpoint. `kept` is false when the shard
   * is no longer this consumer's (lease lost): the checkpoint did not move, reading it stops.
   */
  commit(page: Page): Promise<{ stored: number; kept: boolean }>;
  close(): Promise<void>;
}

/** One page read from a shard, as committed: its readings and where the shard stands after it. */
export interface Page {
  shardId: string;
  readings: readonly StoredReading[];
  /** Sequence number of the page's last record; null for an empty page. */
  lastSequence: string | null;
  /** The shard is closed and this was its last page. */
  ended: boolean;
  millisBehindLatest: number | undefined;
}

/** Where readings go: the consumer's SQLite file, or a DynamoDB table. */
export type Destination = { kind: "sqlite" } | { kind: "dynamodb"; table: DynamoReadings };

async function store(
  dest: Destination,
  local: ConsumerStore,
  stream: string,
  shardId: string,
  readings: readonly StoredReading[],
): Promise<number> {
  if (dest.kind === "dynamodb") return dest.table.write(shardId, readings);
  return local.commit(stream, shardId, readings, null, false);
}

/** One process reads every shard; checkpoints in the SQLite file (`--db`). */
export class LocalProgress implements Progress {
  private readonly shards = new Map<string, ShardInfo & { ended: boolean; start: StartAt }>();
  private readonly firstRun: boolean;
  private startup = true;

  constructor(
    private readonly local: ConsumerStore,
    private readonly dest: Destination,
    private readonly stream: string,
    private readonly from: "trim-horizon" | "latest",
  ) {
    this.firstRun = !local.hasCheckpoints(stream);
  }

  sync(listed: readonly ShardInfo[]): Promise<void> {
    for (const s of listed) {
      const known = this.shards.get(s.id);
      if (known) {
        known.open = s.open;
        continue;
      }
      const cp = this.local.checkpoint(this.stream, s.id);
      // `--from latest` skips history: shards already closed at the first start are not read.
      const skip = !cp && this.firstRun && this.startup && this.from === "latest" && !s.open;
      if (skip) this.local.commit(this.stream, s.id, [], null, true);
      let start: StartAt = cp?.sequenceNumber ?? TRIM_HORIZON;
      if (!cp && this.firstRun && this.from === "latest" && s.open && s.parents.length === 0) start = LATEST;
      this.shards.set(s.id, { ...s, ended: skip || (cp?.ended ?? false), start });
    }
    this.startup = false;
    return Promise.resolve();
  }

  assigned(): Map<string, StartAt> {
    const out = new Map<string, StartAt>();
    for (const s of this.shards.values()) {
      // KCL's rule: a shard is read once every parent still listed has reached SHARD_END.
      if (!s.ended && s.parents.every((p) => this.shards.get(p)?.ended ?? true)) out.set(s.id, s.start);
    }
    return out;
  }

  async commit({ shardId, readings, lastSequence, ended }: Page): Promise<{ stored: number; kept: boolean }> {
    let stored: number;
    if (this.dest.kind === "sqlite") {
      // Readings and checkpoint in one transaction: a restart neither skips nor re-applies a page.
      stored = this.local.commit(this.stream, shardId, readings, lastSequence, ended);
    } else {
      stored = await store(this.dest, this.local, this.stream, shardId, readings);
      this.local.commit(this.stream, shardId, [], lastSequence, ended);
    }
    const s = this.shards.get(shardId);
    if (s) {
      if (lastSequence) s.start = lastSequence;
      if (ended) s.ended = true;
    }
    return { stored, kept: true };
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Several workers share the stream through the lease table (`--app`); checkpoints live in the leases. */
export class LeaseProgress implements Progress {
  constructor(
    private readonly coordinator: LeaseCoordinator,
    private readonly local: ConsumerStore,
    private readonly dest: Destination,
    private readonly stream: string,
    private readonly from: "trim-horizon" | "latest",
  ) {}

  async sync(listed: readonly ShardInfo[]): Promise<void> {
    await this.coordinator.addShards(
      listed.map((s) => ({
        id: s.id,
        parents: s.parents,
        // Used only when the lease is created, i.e. the first time any worker sees the shard.
        checkpoint:
          this.from === "latest" && s.parents.length === 0 ? (s.open ? LATEST : SHARD_END) : TRIM_HORIZON,
      })),
    );
  }

  assigned(): Map<string, StartAt> {
    const out = new Map<string, StartAt>();
    for (const [k, l] of this.coordinator.owned()) if (l.checkpoint !== SHARD_END) out.set(k, l.checkpoint);
    return out;
  }

  async commit({
    shardId,
    readings,
    lastSequence,
    ended,
    millisBehindLatest,
  }: Page): Promise<{ stored: number; kept: boolean }> {
    const stored = await store(this.dest, this.local, this.stream, shardId, readings);
    const held = this.coordinator.owned().get(shardId);
    if (!held) return { stored, kept: false };
    const checkpoint = ended ? SHARD_END : lastSequence;
    // An empty page moves nothing; its lag is written only when it changed, to keep `--leases` honest.
    if (!checkpoint && held.millisBehindLatest === millisBehindLatest) return { stored, kept: true };
    const kept = await this.coordinator.checkpoint(
      shardId,
      checkpoint ?? held.checkpoint,
      millisBehindLatest,
    );
    return { stored, kept };
  }

  close(): Promise<void> {
    return this.coordinator.stop();
  }
}
