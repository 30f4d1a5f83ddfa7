import { statfsSync } from "node:fs";
import { resolve } from "node:path";
import { sleep } from "./backoff.js";
import type { Config } from "./config/schema.js";
import { createIngest, type IngestQueue } from "./pipeline/ingest.js";
import { Shipper } from "./pipeline/shipper.js";
import { createTransforms } from "./pipeline/transforms/index.js";
import { createSink, createSource, type SinkConfig, type SourceConfig } from "./plugins.js";
import { applyReload, type LiveParts } from "./reload.js";
import type { Sink } from "./sinks/sink.js";
import type { Source } from "./sources/source.js";
import { hasReserve, openSpool } from "./spool/index.js";
import type { SpoolApi, SpoolStats } from "./spool/types.js";
import { supervise } from "./supervise.js";
import { type HttpListener, startHttp } from "./telemetry/http.js";
import { createLogger, type Logger } from "./telemetry/logger.js";
import { rememberSecrets } from "./telemetry/redact.js";
import { SdNotify } from "./telemetry/sd-notify.js";
import { SensorTracker } from "./telemetry/sensors.js";
import { statusRoutes } from "./telemetry/status-page.js";
import { Telemetry } from "./telemetry/telemetry.js";

export interface AgentHandle {
  readonly config: Readonly<Config>;
  readonly spool: SpoolApi;
  readonly telemetry: Telemetry;
  /** The sources running now (changes with a reload). */
  readonly sources: readonly Source[];
  /** The metrics/health listener's address, when enabled. */
  readonly http: HttpListener | undefined;
  stats(): SpoolStats;
  /** Applies a new config live (see reload.ts); resolves with the config now running. */
  reload(next: Readonly<Config>): Promise<Readonly<Config>>;
  /** SIGTERM path: stop accepting, finish in-flight batches within the timeout, close the spool. */
  stop(): Promise<void>;
}

export interface StartOptions {
  log?: Logger;
  now?: () => number;
  /** Monotonic ms for the spool's clock-step detection (tests that inject `now` want this too). */
  monotonic?: () => number;
  /** How often retention, reclaim, gauges and time-based health run (default 5 s). */
  housekeepingMs?: number;
  /** systemd notifications (default: from NOTIFY_SOCKET / WATCHDOG_USEC in the environment). */
  sdNotify?: SdNotify;
}

/** Wires config → spool, ingest, sources, shippers and the http listener (agent/README.md, "Data flow"). */
export async function startAgent(config: Readonly<Config>, opts: StartOptions = {}): Promise<AgentHandle> {
  // Before anything can log: every line is scrubbed of the credentials this config holds.
  rememberSecrets(config);
  const log = opts.log ?? createLogger({ level: config.log.level });
  const telemetry = new Telemetry(log, { now: opts.now });
  const dataDir = resolve(config.dataDir);
  const spool = openSpool({
    dir: dataDir,
    sync: config.spool.sync,
    maxBytes: config.spool.maxBytes,
    maxAgeMs: config.spool.maxAgeMs,
    onFull: config.spool.onFull,
    key: config.spool.key,
    deadLetterMaxBytes: config.spool.deadLetterMaxBytes,
    telemetry,
    now: opts.now,
    monotonic: opts.monotonic,
  });
  spool.setSinks(config.sinks.map((s) => s.id));

  // Keyed by id so a reload can replace one without touching the others.
  const shippers = new Map<string, Shipper>();
  const sources = new Map<string, Source>();
  const sensors = new SensorTracker(config.http.maxChartSensors, opts.now);
  let current = config;
  let http: HttpListener | undefined;
  const housekeepingCtl = new AbortController();
  let housekeeping: Promise<void> | undefined;
  const sdNotify = opts.sdNotify ?? new SdNotify(log);
  // Whether the last group commit was held back (onFull: block, or a full disk under it).
  let appendBlocked = false;

  // spool.stats() sets the per-sink gauges; every spool transaction sets the byte/record gauges.
  const refreshGauges = () => spool.stats();

  /** The spool's own health and each sink's backlog age, from figures housekeeping just read. */
  const reportHealth = (st: SpoolStats) => {
    for (const s of shippers.values())
      s.health.backlog(st.sinks.find((k) => k.sink === s.sinkId)?.oldestAgeMs ?? 0);
    const reasons: string[] = [];
    const free = freeBytes(dataDir);
    if (free !== undefined && free < current.health.minFreeBytes)
      reasons.push(
        `disk full: ${free} bytes free under ${dataDir} (threshold ${current.health.minFreeBytes})`,
      );
    else if (!hasReserve(dataDir))
      // The spool gave its reserve file back to keep working on a full disk and found no room to take it again.
      reasons.push(
        `disk full: the spool is running on its reserve (${free ?? "?"} bytes free under ${dataDir})`,
      );
    if (appendBlocked && ingest.pending > 0)
      reasons.push(`spool full under onFull: block: ${ingest.pending} readings held unacknowledged`);
    telemetry.health.report(
      "spool",
      "spool",
      reasons.length === 0 ? { ok: true } : { ok: false, reason: reasons.join("; ") },
    );
  };

  const ingest: IngestQueue = createIngest(spool, telemetry, {
    agentId: config.agentId,
    // Health tells a spool that holds producers back from one that is merely busy.
    onAppend: (blocked) => {
      appendBlocked = blocked;
    },
    maxCommitRecords: config.spool.maxCommitRecords,
    commitDelayMs: config.spool.commitDelayMs,
    now: opts.now,
  });
  const notifying: IngestQueue = {
    ...ingest,
    get pending() {
      return ingest.pending;
    },
    async submit(source, readings, sender) {
      // Shippers hear of the commit from the spool itself (onCommit).
      const outcome = await ingest.submit(source, readings, sender);
      // After the commit, one call per submission: the status page's bounded per-sensor history
      // (not for a submission a full spool refused outright).
      if (outcome.dropped < readings.length) sensors.record(source, readings);
      return outcome;
    },
  };
  const parts: LiveParts = {
    shippers,
    sources,
    spool,
    telemetry,
    log,
    createSink: (cfg: SinkConfig): Promise<Sink> =>
      createSink(cfg, { agentId: config.agentId, dataDir, log: log.child({ sink: cfg.id }), telemetry }),
    startShipper(cfg, sink) {
      const transforms = () => createTransforms(cfg.transforms, { agentId: config.agentId });
      const shipper = new Shipper(spool, sink, cfg, transforms, telemetry, {
        now: opts.now,
        health: current.health,
      });
      shipper.start();
      return shipper;
    },
    createSource: (cfg: SourceConfig): Promise<Source> =>
      createSource(cfg, {
        agentId: config.agentId,
        dataDir,
        ingest: notifying,
        log: log.child({ source: cfg.id }),
        telemetry,
      }),
  };

  try {
    for (const cfg of config.sinks)
      shippers.set(cfg.id, parts.startShipper(cfg, await parts.createSink(cfg)));
    for (const cfg of config.sources) {
      const source = await parts.createSource(cfg);
      sources.set(cfg.id, source);
      await source.start();
    }
    if (config.http.enabled) {
      const page = statusRoutes({ config: () => current, telemetry, sensors, stats: refreshGauges });
      http = await startHttp(config.http.host, config.http.port, telemetry, () => refreshGauges(), page);
    }
    try {
      reportHealth(refreshGauges());
    } catch (err) {
      // Housekeeping reports again on its first tick; a bad moment for the disk is no reason not to start.
      log.warn({ err }, "first health report failed");
    }
    const every = opts.housekeepingMs ?? 5000;
    housekeeping = supervise(
      "housekeeping",
      telemetry,
      async (healthy, signal) => {
        for (;;) {
          await sleep(every, signal);
          if (signal.aborted) return;
          try {
            spool.enforceRetention();
            spool.reclaim();
          } finally {
            // Even when retention failed (SQLITE_FULL on a full disk): that is when health matters.
            reportHealth(refreshGauges());
          }
          healthy();
        }
      },
      { signal: housekeepingCtl.signal, backoff: { initialMs: every, maxMs: 60_000 } },
    );
    sdNotify.start(telemetry.health);
  } catch (err) {
    await shutdown();
    throw err;
  }

  let stopping: Promise<void> | undefined;
  // Reloads run one at a time; stop() waits for the one in progress.
  let reloading: Promise<unknown> = Promise.resolve();
  async function shutdown(): Promise<void> {
    await reloading;
    sdNotify.stop();
    housekeepingCtl.abort();
    await housekeeping;
    for (const s of [...sources.values()].reverse())
      await s.stop().catch((err) => log.warn({ err }, "source stop failed"));
    await ingest.close();
    await Promise.all([...shippers.values()].map((s) => s.stop(current.shutdownTimeoutMs)));
    await http?.close();
    spool.close();
  }

  log.info(
    {
      agentId: config.agentId,
      dataDir,
      sources: config.sources.length,
      sinks: config.sinks.length,
      http: http?.url,
    },
    "edgespool running",
  );
  return {
    get config() {
      return current;
    },
    spool,
    telemetry,
    get sources() {
      return [...sources.values()];
    },
    http,
    stats: () => refreshGauges(),
    reload(next) {
      if (stopping) return Promise.reject(new Error("agent is stopping"));
      const run = reloading.then(async () => (current = await applyReload(parts, current, next)));
      reloading = run.catch(() => {});
      return run;
    },
    stop() {
      stopping ??= shutdown().then(() => log.info("edgespool stopped"));
      return stopping;
    },
  };
}

/** Bytes available to this process on the file system holding `dir` (undefined where statfs fails). */
function freeBytes(dir: string): number | undefined {
  try {
    const fs = statfsSync(dir);
    return fs.bavail * fs.bsize;
  } catch {
    return undefined;
  }
}
