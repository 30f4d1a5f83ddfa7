/**
 * A shard's write budget: records and bytes per second, each a token bucket holding at most one
 * second's worth (Kinesis' own per-shard limits: 1,000 records/s, 1 MiB/s). The sink spends
 * from it before sending, so it waits a few milliseconds instead of collecting throttling errors.
 */
export class ShardBudget {
  private records: number;
  private bytes: number;
  private at: number;

  constructor(
    private readonly recordsPerSecond: number,
    private readonly bytesPerSecond: number,
    private readonly now: () => number = Date.now,
  ) {
    this.records = recordsPerSecond;
    this.bytes = bytesPerSecond;
    this.at = now();
  }

  private refill(): void {
    const t = this.now();
    const dt = Math.max(0, t - this.at) / 1000;
    this.at = t;
    this.records = Math.min(this.recordsPerSecond, this.records + dt * this.recordsPerSecond);
    this.bytes = Math.min(this.bytesPerSecond, this.bytes + dt * this.bytesPerSecond);
  }

  /** Bytes that may be sent right now (for sizing an aggregate to what the shard takes). */
  availableBytes(): number {
    this.refill();
    return this.records >= 1 ? Math.floor(this.bytes) : 0;
  }

  /**
   * Like `availableBytes`, but unbounded when the bucket is full: a single entry larger than a
   * second's budget may then go (the bucket goes negative and the shard waits accordingly).
   */
  allowance(): number {
    const b = this.availableBytes();
    return b >= this.bytesPerSecond ? Number.POSITIVE_INFINITY : b;
  }

  /** Spends the budget for `records` records of `bytes` in total, or returns false and spends nothing. */
  tryTake(records: number, bytes: number): boolean {
    this.refill();
    if (this.records < records || this.bytes < Math.min(bytes, this.bytesPerSecond)) return false;
    this.records -= records;
    this.bytes -= bytes;
    return true;
  }

  /** Milliseconds until `records` records of `bytes` would fit. */
  waitMs(records: number, bytes: number): number {
    this.refill();
    const r = Math.max(0, records - this.records) / this.recordsPerSecond;
    const b = Math.max(0, Math.min(bytes, this.bytesPerSecond) - this.bytes) / this.bytesPerSecond;
    return Math.ceil(Math.max(r, b) * 1000);
  }

  /** Kinesis said the shard is over its limit: assume the budget is spent (a natural backoff). */
  drain(): void {
    this.refill();
    this.records = Math.min(this.records, 0);
    this.bytes = Math.min(this.bytes, 0);
  }
}
