import { resolve } from "node:path";
import type { Config } from "./config/schema.js";
import { createIngest, type IngestQueue } from "./pipeline/ingest.js";
import { Shipper } from "./pipeline/shipper.js";
import { createTransforms } from "./pipeline/transforms/index.js";
import { createSink, createSource, type SinkConfig, type SourceConfig } from "./plugins.js";
import { applyReload, type LiveParts } from "./reload.js";
import type { Sink } from "./sinks/sink.js";
import type { Source } from "./sources/source.js";
import { openSpool } from "./spool/index.js";
import type { SpoolApi, SpoolStats } from "./spool/types.js";
import { type HttpListener, startHttp } from "./telemetry/http.js";
import { createLogger, type Logger } from "./telemetry/logger.js";
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
  /** How often retention, reclaim and gauges run (default 5 s). */
  housekeepingMs?: number;
}

/** Wires config → spool, ingest, sources, shippers and the http listener (DESIGN §1). */
export async function startAgent(config: Readonly<Config>, opts: StartOptions = {}): Promise<AgentHandle> {
  const log = opts.log ?? createLogger({ level: config.log.level });
  const telemetry = new Telemetry(log, { now: opts.now });
  const dataDir = resolve(config.dataDir);
  const spool = openSpool({
    dir: dataDir,
    sync: config.spool.sync,
    maxBytes: config.spool.maxBytes,
    maxAgeMs: config.spool.maxAgeMs,
    onFull: config.spool.onFull,
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
  let housekeeping: NodeJS.Timeout | undefined;

  const refreshGauges = () => {
    const st = spool.stats();
    telemetry.spoolBytes.set(st.bytes);
    telemetry.spoolRecords.set(st.records);
    for (const s of st.sinks) {
      telemetry.depth.set({ sink: s.sink }, s.depth);
      telemetry.oldestAge.set({ sink: s.sink }, s.oldestAgeMs / 1000);
    }
    return st;
  };

  const ingest = createIngest(spool, telemetry, {
    agentId: config.agentId,
    maxCommitRecords: config.spool.maxCommitRecords,
    now: opts.now,
  });
  const notifying: IngestQueue = {
    ...ingest,
    get pending() {
      return ingest.pending;
    },
    async submit(source, readings) {
      const outcome = await ingest.submit(source, readings);
      if (outcome.stored > 0) for (const s of shippers.values()) s.notify(outcome.stored);
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
      const shipper = new Shipper(spool, sink, cfg, transformsOf(cfg), telemetry, { now: opts.now });
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
    for (const cfg of config.sinks) {
      shippers.set(cfg.id, parts.startShipper(cfg, await parts.createSink(cfg)));
    }
    for (const cfg of config.sources) {
      const source = await parts.createSource(cfg);
      sources.set(cfg.id, source);
      await source.start();
    }
    if (config.http.enabled) {
      const page = statusRoutes({ config: () => current, telemetry, sensors, stats: refreshGauges });
      http = await startHttp(config.http.host, config.http.port, telemetry, () => refreshGauges(), page);
    }
    housekeeping = setInterval(() => {
      try {
        spool.enforceRetention();
        spool.reclaim();
        refreshGauges();
      } catch (err) {
        log.error({ err }, "housekeeping failed");
      }
    }, opts.housekeepingMs ?? 5000);
    housekeeping.unref();
  } catch (err) {
    await shutdown();
    throw err;
  }

  function transformsOf(cfg: SinkConfig) {
    return createTransforms(cfg.transforms, { agentId: config.agentId });
  }

  let stopping: Promise<void> | undefined;
  // Reloads run one at a time; stop() waits for the one in progress.
  let reloading: Promise<unknown> = Promise.resolve();
  async function shutdown(): Promise<void> {
    await reloading;
    clearInterval(housekeeping);
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
