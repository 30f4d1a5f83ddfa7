import { statfsSync } from "node:fs";
import { resolve } from "node:path";
import { sleep } from "./backoff.js";
import type { Config } from "./config/schema.js";
import { createIngest, type IngestQueue } from "./pipeline/ingest.js";
import { Shipper } from "./pipeline/shipper.js";
import { createTransforms } from "./pipeline/transforms/index.js";
import { createSink, createSource } from "./plugins.js";
import type { Source } from "./sources/source.js";
import { openSpool } from "./spool/index.js";
import type { SpoolApi, SpoolStats } from "./spool/types.js";
import { supervise } from "./supervise.js";
import { type HttpListener, startHttp } from "./telemetry/http.js";
import { createLogger, type Logger } from "./telemetry/logger.js";
import { SdNotify } from "./telemetry/sd-notify.js";
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
  /** How often retention, reclaim, gauges and time-based health run (default 5 s). */
  housekeepingMs?: number;
  /** systemd notifications (default: from NOTIFY_SOCKET / WATCHDOG_USEC in the environment). */
  sdNotify?: SdNotify;
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
    deadLetterMaxBytes: config.spool.deadLetterMaxBytes,
    telemetry,
    now: opts.now,
    monotonic: opts.monotonic,
  });
  spool.setSinks(config.sinks.map((s) => s.id));

  const shippers: Shipper[] = [];
  const sources: Source[] = [];
  let ingest: IngestQueue | undefined;
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
    for (const s of shippers) s.health.backlog(st.sinks.find((k) => k.sink === s.sinkId)?.oldestAgeMs ?? 0);
    const reasons: string[] = [];
    const free = freeBytes(dataDir);
    if (free !== undefined && free < config.health.minFreeBytes)
      reasons.push(
        `disk full: ${free} bytes free under ${dataDir} (threshold ${config.health.minFreeBytes})`,
      );
    if (appendBlocked && (ingest?.pending ?? 0) > 0)
      reasons.push(`spool full under onFull: block: ${ingest?.pending} readings held unacknowledged`);
    telemetry.health.report(
      "spool",
      "spool",
      reasons.length === 0 ? { ok: true } : { ok: false, reason: reasons.join("; ") },
    );
  };

  try {
    for (const cfg of config.sinks) {
      const sink = await createSink(cfg, {
        agentId: config.agentId,
        dataDir,
        log: log.child({ sink: cfg.id }),
        telemetry,
      });
      const transforms = () => createTransforms(cfg.transforms, { agentId: config.agentId });
      shippers.push(
        new Shipper(spool, sink, cfg, transforms, telemetry, { now: opts.now, health: config.health }),
      );
    }
    // Sees each group commit's result, so health can tell a spool that holds producers back.
    const append: SpoolApi["append"] = (records) => {
      const res = spool.append(records);
      appendBlocked = res.blocked;
      return res;
    };
    const watched = new Proxy(spool, {
      get(target, prop) {
        if (prop === "append") return append;
        const v: unknown = Reflect.get(target, prop, target);
        return typeof v === "function" ? v.bind(target) : v;
      },
    });
    const queue = createIngest(watched, telemetry, {
      agentId: config.agentId,
      maxCommitRecords: config.spool.maxCommitRecords,
      commitDelayMs: config.spool.commitDelayMs,
      now: opts.now,
    });
    ingest = queue;
    for (const s of shippers) s.start();
    for (const cfg of config.sources) {
      const source = await createSource(cfg, {
        agentId: config.agentId,
        dataDir,
        ingest: queue,
        log: log.child({ source: cfg.id }),
        telemetry,
      });
      await source.start();
      sources.push(source);
    }
    if (config.http.enabled) {
      http = await startHttp(config.http.host, config.http.port, telemetry, () => refreshGauges());
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
          spool.enforceRetention();
          spool.reclaim();
          reportHealth(refreshGauges());
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
  async function shutdown(): Promise<void> {
    sdNotify.stop();
    housekeepingCtl.abort();
    await housekeeping;
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

/** Bytes available to this process on the file system holding `dir` (undefined where statfs fails). */
function freeBytes(dir: string): number | undefined {
  try {
    const fs = statfsSync(dir);
    return fs.bavail * fs.bsize;
  } catch {
    return undefined;
  }
}
