import type { KinesisClient, Shard } from "@aws-sdk/client-kinesis";
import { listAllShards } from "./client.js";

export interface OpenShard {
  id: string;
  start: bigint;
  end: bigint;
}

/** Open shards only (no ending sequence number), sorted by hash range. */
export function openShards(shards: readonly Shard[]): OpenShard[] {
  return shards
    .filter((s) => s.ShardId && s.HashKeyRange && !s.SequenceNumberRange?.EndingSequenceNumber)
    .map((s) => ({
      id: s.ShardId!,
      start: BigInt(s.HashKeyRange!.StartingHashKey!),
      end: BigInt(s.HashKeyRange!.EndingHashKey!),
    }))
    .sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
}

/**
 * Which open shard owns a hash key, from ListShards. Re-read when it is older than `maxAgeMs`, or
 * when marked stale: a record landed on a shard other than the one it was aggregated for, or
 * Kinesis refused a request in a way that suggests the stream was resharded.
 */
export class ShardMap {
  private shards: OpenShard[] = [];
  private readAt = Number.NEGATIVE_INFINITY;
  private stale = true;

  constructor(
    private readonly client: KinesisClient,
    private readonly stream: string,
    private readonly maxAgeMs: number,
    private readonly onChange: (shards: readonly OpenShard[]) => void = () => {},
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.shards.length;
  }

  markStale(): void {
    this.stale = true;
  }

  /** Re-reads the map when stale or old; a failure propagates (the caller retries the batch). */
  async ensure(signal?: AbortSignal): Promise<void> {
    if (!this.stale && this.now() - this.readAt < this.maxAgeMs) return;
    const next = openShards(await listAllShards(this.client, this.stream, signal));
    if (next.length === 0) throw new Error(`stream ${this.stream} has no open shard`);
    const changed = next.length !== this.shards.length || next.some((s, i) => s.id !== this.shards[i]?.id);
    this.shards = next;
    this.readAt = this.now();
    this.stale = false;
    if (changed) this.onChange(next);
  }

  /** The open shard whose range holds `hash`, or undefined when the map has a gap (mid-reshard). */
  lookup(hash: bigint): OpenShard | undefined {
    let lo = 0;
    let hi = this.shards.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const s = this.shards[mid]!;
      if (hash < s.start) hi = mid - 1;
      else if (hash > s.end) lo = mid + 1;
      else return s;
    }
    return undefined;
  }
}
