import { type BackoffOptions, backoffDelay } from "./backoff.js";
import type { Logger } from "./telemetry/logger.js";
import type { Telemetry } from "./telemetry/telemetry.js";

/** The log lines of one component's connection, so each reads naturally ("serial port reopened"). */
export interface ReconnectMessages {
  /** The first success. */
  connected: string;
  /** A success after failures. */
  reconnected: string;
  /** It was up and went away. */
  lost: string;
  /** It never came up. */
  unreachable: string;
  /** Another failed attempt during the same outage (debug level). */
  stillDown: string;
}

export interface ReconnectOptions {
  kind: "source" | "sink";
  id: string;
  backoff: BackoffOptions;
  log: Logger;
  telemetry: Telemetry;
  messages: ReconnectMessages;
  /** Makes the next attempt; its outcome comes back through `up()` or `down()`. */
  retry: () => void;
}

/**
 * The one reconnect schedule of every source and sink that holds a connection (mqtt source, mqtt
 * sink, serial). The component says when it is `up()` or went `down()`; this class waits a capped,
 * jittered backoff (a fleet that lost its broker does not come back in lock-step), then calls
 * `retry`. It logs once per state change (an outage is one warning, not one per attempt), counts
 * every failed attempt in `edgespool_loop_restarts_total`, and reports a source's health. A sink's
 * health is its shipper's verdict (pipeline/sink-health.ts, with thresholds), which the failed
 * writes of a lost connection feed; reporting the connection too would overwrite it.
 */
export class Reconnect {
  private state: "starting" | "up" | "down" = "starting";
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;
  private nextAt = 0;
  private stopped = false;

  constructor(private readonly o: ReconnectOptions) {}

  get isDown(): boolean {
    return this.state === "down";
  }

  /** Milliseconds until the scheduled retry, or undefined when none is scheduled. */
  get retryInMs(): number | undefined {
    return this.timer === undefined ? undefined : Math.max(0, this.nextAt - Date.now());
  }

  up(fields: Record<string, unknown> = {}): void {
    if (this.stopped) return;
    const was = this.state;
    this.state = "up";
    this.attempt = 0;
    this.o.log.info(fields, was === "down" ? this.o.messages.reconnected : this.o.messages.connected);
    if (this.o.kind === "source") this.o.telemetry.health.report("source", this.o.id, { ok: true });
  }

  /**
   * An attempt failed or the connection was lost: schedules the next attempt. A second signal for
   * the same failure (an `error` and then a `close`) while a retry is pending changes nothing.
   */
  down(err: unknown, fields: Record<string, unknown> = {}): void {
    if (this.stopped || this.timer) return;
    const delay = backoffDelay(this.attempt++, this.o.backoff);
    const why = err instanceof Error ? err.message : String(err);
    const { messages, log } = this.o;
    if (this.state !== "down") {
      const msg = this.state === "up" ? messages.lost : messages.unreachable;
      log.warn({ ...fields, err: why, retryInMs: delay }, msg);
      if (this.o.kind === "source")
        this.o.telemetry.health.report("source", this.o.id, { ok: false, reason: `${msg}: ${why}` });
    } else {
      log.debug({ ...fields, err: why, attempt: this.attempt, retryInMs: delay }, messages.stillDown);
    }
    this.state = "down";
    this.o.telemetry.loopRestarted(`${this.o.kind}:${this.o.id}`, err, delay);
    this.nextAt = Date.now() + delay;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.stopped) this.o.retry();
    }, delay);
  }

  /** No more attempts; idempotent. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
