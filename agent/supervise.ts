import { type BackoffOptions, backoffDelay, sleep } from "./backoff.js";
import type { Telemetry } from "./telemetry/telemetry.js";

export interface SuperviseOptions {
  /** Aborting it ends the loop: `run` sees the same signal and should return soon after. */
  signal: AbortSignal;
  backoff: BackoffOptions;
  /** A run that lasted this long before failing was healthy: the next backoff starts small again. */
  healthyAfterMs?: number;
  /** Called before each restart with the error, e.g. to reset in-memory state. */
  onRestart?: (err: unknown) => void;
}

/**
 * Runs a long-lived loop until `signal` aborts, whatever it throws. Each failure is logged and
 * counted once (`edgespool_loop_restarts_total{loop}`), the loop's health goes failing with the
 * error as its reason, and after a capped jittered backoff it runs again. `run` reports the loop
 * healthy through the callback it is given (after its first good iteration), so a loop that
 * keeps failing stays failing in `/healthz` instead of flickering back on every restart.
 *
 * A `run` that returns without the signal aborted has stopped on its own: that is a failure too,
 * since these loops are meant to run for the life of the agent.
 */
export async function supervise(
  loop: string,
  telemetry: Telemetry,
  run: (healthy: () => void, signal: AbortSignal) => Promise<void>,
  opts: SuperviseOptions,
): Promise<void> {
  const { signal } = opts;
  const healthy = () => telemetry.health.report("loop", loop, { ok: true });
  let attempt = 0;
  while (!signal.aborted) {
    const started = performance.now();
    let failure: unknown;
    try {
      await run(healthy, signal);
      if (signal.aborted) return;
      failure = new Error("loop returned while the agent is running");
    } catch (err) {
      if (signal.aborted) return;
      failure = err;
    }
    if (performance.now() - started >= (opts.healthyAfterMs ?? opts.backoff.maxMs)) attempt = 0;
    const delay = backoffDelay(attempt++, opts.backoff);
    telemetry.loopRestarted(loop, failure, delay);
    telemetry.health.report("loop", loop, { ok: false, reason: `restarting after: ${describe(failure)}` });
    try {
      opts.onRestart?.(failure);
    } catch (err) {
      telemetry.log.error({ err, loop }, "loop restart hook failed");
    }
    await sleep(delay, signal);
  }
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === "string" && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}
