import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { Health } from "./health.js";
import type { Logger } from "./logger.js";
import { silentLogger } from "./logger.js";
import { RateLimitedLog } from "./ratelimit.js";
import { errText } from "./redact.js";

/**
 * One place per runtime event: every method logs (rate-limited where it can flood)
 * and moves the matching Prometheus metric, so logs and /metrics never disagree.
 */
export class Telemetry {
  readonly registry = new Registry();
  readonly log: Logger;
  private readonly limiter: RateLimitedLog;

  readonly readingsIn = new Counter({
    name: "edgespool_readings_in_total",
    help: "Readings accepted from sources (before de-duplication).",
    labelNames: ["source"],
    registers: [this.registry],
  });
  readonly rejected = new Counter({
    name: "edgespool_rejected_total",
    help: "Input rejected, by source and reason.",
    labelNames: ["source", "reason"],
    registers: [this.registry],
  });
  readonly spooled = new Counter({
    name: "edgespool_spooled_total",
    help: "Records committed to the spool.",
    registers: [this.registry],
  });
  readonly duplicates = new Counter({
    name: "edgespool_duplicates_total",
    help: "Readings whose id was already in the spool (stored once).",
    registers: [this.registry],
  });
  readonly shipped = new Counter({
    name: "edgespool_shipped_total",
    help: "Records acknowledged by a sink.",
    labelNames: ["sink"],
    registers: [this.registry],
  });
  readonly dropped = new Counter({
    name: "edgespool_dropped_total",
    help: "Records dropped before a sink carried them, by reason (max-age, spool-full, dead-letter, filter).",
    labelNames: ["sink", "reason"],
    registers: [this.registry],
  });
  readonly sinkErrors = new Counter({
    name: "edgespool_sink_errors_total",
    help: "Failed sink writes, by sink and error code.",
    labelNames: ["sink", "code"],
    registers: [this.registry],
  });
  readonly batchLatency = new Histogram({
    name: "edgespool_batch_latency_seconds",
    help: "Time from handing a batch to a sink to its acknowledgement.",
    labelNames: ["sink"],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly spoolBytes = new Gauge({
    name: "edgespool_spool_bytes",
    help: "Bytes of record data held in the spool.",
    registers: [this.registry],
  });
  readonly spoolRecords = new Gauge({
    name: "edgespool_spool_records",
    help: "Records held in the spool.",
    registers: [this.registry],
  });
  readonly depth = new Gauge({
    name: "edgespool_sink_depth",
    help: "Records not yet acknowledged by a sink.",
    labelNames: ["sink"],
    registers: [this.registry],
  });
  readonly oldestAge = new Gauge({
    name: "edgespool_oldest_unshipped_age_seconds",
    help: "Age of the oldest record a sink has not acknowledged.",
    labelNames: ["sink"],
    registers: [this.registry],
  });

  readonly deadLettersEvictedTotal = new Counter({
    name: "edgespool_dead_letters_evicted_total",
    help: "Dead letters deleted, oldest first, to keep the dead-letter table within its bound.",
    labelNames: ["sink"],
    registers: [this.registry],
  });

  readonly loopRestarts = new Counter({
    name: "edgespool_loop_restarts_total",
    help: "Long-running loops (shippers, housekeeping, reconnect loops) that failed and were restarted.",
    labelNames: ["loop"],
    registers: [this.registry],
  });
  /** Each component reports its own state here; /healthz and the watchdog read the aggregate. */
  readonly health: Health;
  readonly componentUp: Gauge;

  constructor(log: Logger = silentLogger(), opts: { logIntervalMs?: number; now?: () => number } = {}) {
    this.log = log;
    this.health = new Health(opts.now);
    const health = this.health;
    this.componentUp = new Gauge({
      name: "edgespool_component_up",
      help: "1 while a component (source, sink, spool, loop) reports itself working, 0 while failing.",
      labelNames: ["kind", "name"],
      registers: [this.registry],
      // Read at scrape time, so the gauge and /healthz always say the same.
      collect() {
        this.reset();
        for (const c of health.snapshot().components) this.set({ kind: c.kind, name: c.name }, c.ok ? 1 : 0);
      },
    });
    this.limiter = new RateLimitedLog(opts.logIntervalMs ?? 10_000, opts.now);
  }

  /** Logs a warning at most once per interval per key, with the count suppressed since. */
  warnLimited(key: string, fields: Record<string, unknown>, msg: string): void {
    const suppressed = this.limiter.take(key);
    if (suppressed >= 0) this.log.warn(suppressed > 0 ? { ...fields, suppressed } : fields, msg);
  }

  accepted(source: string, n: number): void {
    this.readingsIn.inc({ source }, n);
  }

  reject(source: string, reason: string, detail?: string): void {
    this.rejected.inc({ source, reason });
    this.warnLimited(`reject:${source}:${reason}`, { source, reason, detail }, "input rejected");
  }

  committed(stored: number, duplicates: number): void {
    if (stored > 0) this.spooled.inc(stored);
    if (duplicates > 0) this.duplicates.inc(duplicates);
  }

  /** A sink answered a write; counted as shipped only once the spool settled it (`shippedSettled`). */
  batchAnswered(sink: string, seconds: number): void {
    this.batchLatency.observe({ sink }, seconds);
  }

  /** Records whose shipping the spool recorded: the same figure as the spool's own `shipped`. */
  shippedSettled(sink: string, n: number): void {
    if (n > 0) this.shipped.inc({ sink }, n);
  }

  deadLettersEvicted(sink: string, n: number): void {
    this.deadLettersEvictedTotal.inc({ sink }, n);
    this.warnLimited(
      `dead-letters-evicted:${sink}`,
      { sink, count: n },
      "dead-letter table at its bound: oldest dead letters deleted",
    );
  }

  /**
   * Readings the spool refused because it (or the disk) was full: never stored, they have no seq
   * and belong to no sink's accounting, so they are counted as input rejected by the spool.
   */
  spoolRefused(n: number, detail?: string): void {
    if (n <= 0) return;
    this.rejected.inc({ source: "spool", reason: "spool-full" }, n);
    this.warnLimited("drop:spool-refused", { count: n, detail }, "readings refused: spool full");
  }

  drop(sink: string, reason: string, n: number, detail?: string): void {
    if (n <= 0) return;
    this.dropped.inc({ sink, reason }, n);
    this.warnLimited(`drop:${sink}:${reason}`, { sink, reason, count: n, detail }, "records dropped");
  }

  /** A supervised loop caught an error and will carry on after a backoff. */
  loopRestarted(loop: string, err: unknown, retryInMs: number): void {
    this.loopRestarts.inc({ loop });
    const message = errText(err);
    this.warnLimited(
      `loop:${loop}`,
      { loop, err: message, retryInMs },
      "loop failed; restarting after backoff",
    );
  }

  sinkError(sink: string, code: string, err: unknown, retryable: boolean): void {
    this.sinkErrors.inc({ sink, code });
    const message = errText(err);
    this.warnLimited(`sinkerr:${sink}:${code}`, { sink, code, retryable, err: message }, "sink write failed");
  }
}
