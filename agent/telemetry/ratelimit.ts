/**
 * Logs at most one line per key per interval, and says how many were suppressed in between,
 * so a flood of bad input or throttling never becomes thousands of log lines a second.
 */
export class RateLimitedLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly intervalMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Returns the number of suppressed calls since the last emitted one, or -1 to stay quiet. */
  take(key: string): number {
    const t = this.now();
    const e = this.last.get(key);
    if (e === undefined || t - e.at >= this.intervalMs) {
      const suppressed = e?.suppressed ?? 0;
      this.last.set(key, { at: t, suppressed: 0 });
      if (this.last.size > 10_000) this.last.clear();
      return suppressed;
    }
    e.suppressed++;
    return -1;
  }
}
