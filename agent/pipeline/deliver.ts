import { backoffDelay, sleep } from "../backoff.js";
import type { RetryConfig } from "../config/common.js";
import type { OutRecord } from "../record/record.js";
import { type Sink, SinkError } from "../sinks/sink.js";
import type { DeadLetter } from "../spool/types.js";
import type { Telemetry } from "../telemetry/telemetry.js";

export interface DeliveryOutcome {
  shipped: number;
  /** Seqs of the records the sink accepted (what the spool counts as shipped). */
  shippedSeqs: number[];
  deadLetters: DeadLetter[];
  /** False when stopped before every record was settled: the caller must not ack. */
  complete: boolean;
}

/**
 * Hands one batch to a sink until every record is either accepted or refused for good.
 * Whole-batch failures resend the same records (same ids); partial failures resend only the
 * records the sink asked to retry. Refusals become dead letters, never silent drops.
 */
export async function deliver(
  sink: Sink,
  batch: readonly OutRecord[],
  retry: RetryConfig,
  telemetry: Telemetry,
  signal: AbortSignal,
  /** Told each attempt's result: why it failed, or undefined when the sink took records. */
  onAttempt?: (failure: string | undefined) => void,
): Promise<DeliveryOutcome> {
  let pending: readonly OutRecord[] = batch;
  const deadLetters: DeadLetter[] = [];
  const shippedSeqs: number[] = [];
  let attempt = 0;
  const outcome = (complete: boolean) => ({
    shipped: shippedSeqs.length,
    shippedSeqs,
    deadLetters,
    complete,
  });
  while (pending.length > 0) {
    if (signal.aborted) return outcome(false);
    let retryAfterMs: number | undefined;
    let next: OutRecord[] = [];
    const started = performance.now();
    try {
      const res = await sink.write(pending, signal);
      const refused = new Set<number>();
      for (const r of res.rejected ?? []) {
        const rec = pending[r.index];
        if (rec && !refused.has(r.index)) {
          refused.add(r.index);
          deadLetters.push({ record: rec, reason: r.reason });
        }
      }
      const again = new Set((res.retry ?? []).filter((i) => !refused.has(i) && i >= 0 && i < pending.length));
      next = [...again].sort((a, b) => a - b).map((i) => pending[i]!);
      pending.forEach((rec, i) => {
        if (!refused.has(i) && !again.has(i)) shippedSeqs.push(rec.seq);
      });
      telemetry.batchAnswered(sink.id, (performance.now() - started) / 1000);
      retryAfterMs = res.retryAfterMs;
      if (next.length > 0) telemetry.sinkError(sink.id, "partial", `${next.length} records to retry`, true);
      onAttempt?.(next.length < pending.length ? undefined : `all ${next.length} records to retry`);
    } catch (err) {
      if (signal.aborted) return outcome(false);
      const se = err instanceof SinkError ? err : undefined;
      telemetry.sinkError(sink.id, se?.code ?? "error", err, se?.retryable ?? true);
      onAttempt?.(`${se?.code ?? "error"}: ${err instanceof Error ? err.message : String(err)}`);
      if (se && !se.retryable) {
        for (const rec of pending) deadLetters.push({ record: rec, reason: `${se.code}: ${se.message}` });
        break;
      }
      next = [...pending];
      retryAfterMs = se?.retryAfterMs;
    }
    if (next.length === 0) break;
    attempt++;
    if (retry.maxAttempts > 0 && attempt >= retry.maxAttempts) {
      for (const rec of next) deadLetters.push({ record: rec, reason: `gave up after ${attempt} attempts` });
      break;
    }
    pending = next;
    const delay = Math.max(retryAfterMs ?? 0, backoffDelay(attempt - 1, retry));
    await sleep(Math.min(delay, Math.max(retry.maxMs, retryAfterMs ?? 0)), signal);
  }
  return outcome(true);
}
