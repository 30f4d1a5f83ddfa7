import { resolve } from "node:path";
import type { Config } from "./config/schema.js";
import { createIngest, type IngestQueue } from "./pipeline/ingest.js";
import { Shipper } from "./pipeline/shipper.js";
import { createTransforms } from "./pipeline/transforms/index.js";
import { createSink, createSource } from "./plugins.js";
import type { Source } from "./sources/source.js";
import { openSpool } from "./spool/index.js";
import type { SpoolApi, SpoolStats } from "./spool/types.js";
import { type HttpListener, startHttp } from "./telemetry/http.js";
import { createLogger, type Logger } from "./telemetry/logger.js";
import { Telemetry } from "./telemetry/telemetry.js";

export interface AgentHandle {
  readonly config: Readonly<Config>;
  readonly spool: SpoolApi;
  readonly telemetry: Telemetry;
  readonly sources: readonly Source[];
  /** The metrics/health listener's address, when enabled. */
  readonly http: HttpListener | undefined;
  stats(): SpoolStats;
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

  const shippers: Shipper[] = [];
  const sources: Source[] = [];
  let ingest: IngestQueue | undefined;
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

  try {
    for (const cfg of config.sinks) {
      const sink = await createSink(cfg, {
        agentId: config.agentId,
        dataDir,
        log: log.child({ sink: cfg.id }),
        telemetry,
      });
      const transforms = createTransforms(cfg.transforms, { agentId: config.agentId });
      shippers.push(new Shipper(spool, sink, cfg, transforms, telemetry, { now: opts.now }));
    }
    const queue = createIngest(spool, telemetry, {
      agentId: config.agentId,
      maxCommitRecords: config.spool.maxCommitRecords,
      commitDelayMs: config.spool.commitDelayMs,
      now: opts.now,
    });
    ingest = queue;
    const notifying: IngestQueue = {
      ...queue,
      get pending() {
        return queue.pending;
      },
      async submit(source, readings) {
        const outcome = await queue.submit(source, readings);
        if (outcome.stored > 0) for (const s of shippers) s.notify(outcome.stored);
        return outcome;
      },
    };
    for (const s of shippers) s.start();
    for (const cfg of config.sources) {
      const source = await createSource(cfg, {
        agentId: config.agentId,
        dataDir,
        ingest: notifying,
        log: log.child({ source: cfg.id }),
        telemetry,
      });
      await source.start();
      sources.push(source);
    }
    if (config.http.enabled) {
      http = await startHttp(config.http.host, config.http.port, telemetry, () => refreshGauges());
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

  let stopping: Promise<void> | undefined;
  async function shutdown(): Promise<void> {
    clearInterval(housekeeping);
    for (const s of sources.reverse()) await s.stop().catch((err) => log.warn({ err }, "source stop failed"));
    await ingest?.close();
    await Promise.all(shippers.map((s) => s.stop(config.shutdownTimeoutMs)));
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
    config,
    spool,
    telemetry,
    sources,
    http,
    stats: () => refreshGauges(),
    stop() {
      stopping ??= shutdown().then(() => log.info("edgespool stopped"));
      return stopping;
    },
  };
}
