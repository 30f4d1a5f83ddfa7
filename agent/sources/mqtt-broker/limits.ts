/**
 * Rate and volume limits of the embedded broker. Each keeps a bounded amount of state whatever
 * clients do: per-address login failures in a capped map, per-client buckets on the client.
 */

/** Most remote addresses whose failures are remembered; the oldest are forgotten first. */
const MAX_ADDRESSES = 4096;

/**
 * Failed logins per remote address: after `max` failures within `windowMs`, every CONNECT from
 * that address is refused, good password or not, until the window that began with its first
 * failure has passed. Guessing passwords then costs a window per `max` tries.
 */
export class LoginLimiter {
  private readonly seen = new Map<string, { first: number; failures: number }>();

  constructor(
    private readonly max: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  blocked(address: string): boolean {
    const e = this.seen.get(address);
    if (e === undefined) return false;
    if (this.now() - e.first >= this.windowMs) {
      this.seen.delete(address);
      return false;
    }
    return e.failures >= this.max;
  }

  failed(address: string): void {
    const t = this.now();
    const e = this.seen.get(address);
    if (e !== undefined && t - e.first < this.windowMs) {
      e.failures++;
      return;
    }
    this.seen.delete(address);
    if (this.seen.size >= MAX_ADDRESSES) this.seen.delete(this.seen.keys().next().value!);
    this.seen.set(address, { first: t, failures: 1 });
  }
}

/** A token bucket: `perSecond` on average, bursts up to twice that. */
export class RateBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly perSecond: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = 2 * perSecond;
    this.last = now();
  }

  take(): boolean {
    const t = this.now();
    this.tokens = Math.min(2 * this.perSecond, this.tokens + ((t - this.last) * this.perSecond) / 1000);
    this.last = t;
    if (this.tokens < 1) return false;
    this.tokens--;
    return true;
  }
}
