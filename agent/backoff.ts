/**
 * Capped exponential backoff with jitter: delays grow from `initialMs` by
 * `multiplier` up to `maxMs`, each drawn from [50%, 100%] of the step so a fleet that lost its
 * upstream at the same moment does not come back in lock-step.
 */
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  multiplier?: number;
  random?: () => number;
}

export function backoffDelay(attempt: number, opts: BackoffOptions): number {
  const step = Math.min(opts.maxMs, opts.initialMs * (opts.multiplier ?? 2) ** Math.max(0, attempt));
  const r = (opts.random ?? Math.random)();
  return Math.round(step * (0.5 + r / 2));
}

/** Resolves after `ms`, or at once when `signal` aborts. Never rejects. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
