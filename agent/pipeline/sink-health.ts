import type { HealthConfig } from "../config/health.js";
import type { Telemetry } from "../telemetry/telemetry.js";

export type SinkHealthThresholds = Pick<HealthConfig, "sinkFailingMs" | "maxUnshippedAgeMs">;

/**
 * One sink's health, from what its shipper sees: writes failing for longer than `sinkFailingMs`,
 * the spool refusing to record progress (disk full, I/O error), and the oldest unshipped record
 * older than `maxUnshippedAgeMs` (fed by housekeeping from the spool's figures). Reported as
 * `sink:<id>` to `telemetry.health` on every change of input; thresholds that pass with time are
 * re-evaluated on each housekeeping tick.
 */
export class SinkHealth {
  private failingSince: number | undefined;
  private failure: string | undefined;
  private spoolFailure: string | undefined;
  private oldestAgeMs = 0;

  constructor(
    private readonly sink: string,
    private readonly telemetry: Telemetry,
    private readonly limits: SinkHealthThresholds,
    private readonly now: () => number,
  ) {}

  /** A write attempt's result: why it failed, or undefined when the sink took records. */
  attempt(failure: string | undefined): void {
    if (failure === undefined) this.failingSince = undefined;
    else this.failingSince ??= this.now();
    this.failure = failure;
    this.report();
  }

  /** The spool's answer to recording a batch: why it failed, or undefined when it worked. */
  spool(failure: string | undefined): void {
    this.spoolFailure = failure;
    this.report();
  }

  backlog(oldestAgeMs: number): void {
    this.oldestAgeMs = oldestAgeMs;
    this.report();
  }

  report(): void {
    const reasons: string[] = [];
    if (this.failingSince !== undefined) {
      const ms = this.now() - this.failingSince;
      if (ms >= this.limits.sinkFailingMs)
        reasons.push(
          `sink failing for ${secs(ms)} (threshold ${secs(this.limits.sinkFailingMs)}): ${this.failure}`,
        );
    }
    if (this.spoolFailure !== undefined)
      reasons.push(`cannot record progress in the spool: ${this.spoolFailure}`);
    if (this.oldestAgeMs > this.limits.maxUnshippedAgeMs)
      reasons.push(
        `oldest unshipped record is ${secs(this.oldestAgeMs)} old (threshold ${secs(this.limits.maxUnshippedAgeMs)})`,
      );
    this.telemetry.health.report(
      "sink",
      this.sink,
      reasons.length === 0 ? { ok: true } : { ok: false, reason: reasons.join("; ") },
    );
  }
}

function secs(ms: number): string {
  return `${Math.round(ms / 1000)} s`;
}
