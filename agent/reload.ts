import { isDeepStrictEqual } from "node:util";
import type { Config } from "./config/schema.js";
import type { Shipper } from "./pipeline/shipper.js";
import type { SinkConfig, SourceConfig } from "./plugins.js";
import type { Sink } from "./sinks/sink.js";
import type { Source } from "./sources/source.js";
import type { SpoolApi } from "./spool/types.js";
import type { Logger } from "./telemetry/logger.js";
import type { Telemetry } from "./telemetry/telemetry.js";

/**
 * Applying a new config to a running agent (SIGHUP, `systemctl reload`). Sources and sinks are
 * compared per id, structurally: one whose config is deep-equal keeps running untouched (its
 * connections stay up); a changed one is stopped and started again with the new config; added
 * ones start, removed ones stop. Settings the running spool or listener were built from can only
 * change with a restart: a config that changes one of them is refused as a whole, so the agent
 * always runs either the old file or the new one, never a mix.
 */

/** Fields that need a restart, as config paths. Everything else outside sources/sinks is live. */
const RESTART_ONLY: readonly (readonly string[])[] = [
  ["agentId"],
  ["dataDir"],
  ["spool"],
  // Shippers and housekeeping were built with these thresholds.
  ["health"],
  ["http", "enabled"],
  ["http", "host"],
  ["http", "port"],
  ["http", "maxChartSensors"],
  ["log", "level"],
];

/** What a running agent lends the reload: its live parts and how to build new ones. */
export interface LiveParts {
  readonly shippers: Map<string, Shipper>;
  readonly sources: Map<string, Source>;
  readonly spool: SpoolApi;
  readonly telemetry: Telemetry;
  readonly log: Logger;
  /** Builds a sink (not started); throws for a config it cannot build. */
  createSink(cfg: SinkConfig): Promise<Sink>;
  /** Wraps a built sink in a started shipper that resumes from the sink's durable cursor. */
  startShipper(cfg: SinkConfig, sink: Sink): Shipper;
  /** Builds a source (not started). */
  createSource(cfg: SourceConfig): Promise<Source>;
}

export interface Plan<C extends { id: string }> {
  added: C[];
  removed: C[];
  /** The new config of each changed id. */
  changed: C[];
  unchanged: string[];
}

export interface ReloadPlan {
  /** Paths whose change needs a restart (the reload is refused when any). */
  restartOnly: string[];
  sources: Plan<SourceConfig>;
  sinks: Plan<SinkConfig>;
}

function pick(o: unknown, path: readonly string[]): unknown {
  let v = o;
  for (const k of path)
    v = v !== null && typeof v === "object" ? (v as Record<string, unknown>)[k] : undefined;
  return v;
}

export function diffById<C extends { id: string }>(before: readonly C[], after: readonly C[]): Plan<C> {
  const old = new Map(before.map((c) => [c.id, c]));
  const plan: Plan<C> = { added: [], removed: [], changed: [], unchanged: [] };
  for (const c of after) {
    const prev = old.get(c.id);
    if (prev === undefined) plan.added.push(c);
    else if (isDeepStrictEqual(prev, c)) plan.unchanged.push(c.id);
    else plan.changed.push(c);
  }
  const next = new Set(after.map((c) => c.id));
  plan.removed = before.filter((c) => !next.has(c.id));
  return plan;
}

export function planReload(current: Readonly<Config>, next: Readonly<Config>): ReloadPlan {
  const restartOnly: string[] = [];
  for (const path of RESTART_ONLY) {
    const a = pick(current, path);
    const b = pick(next, path);
    if (isDeepStrictEqual(a, b)) continue;
    if (a !== null && typeof a === "object" && b !== null && typeof b === "object") {
      // Name the exact field, e.g. spool.maxBytes rather than spool.
      const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
      for (const k of keys)
        if (!isDeepStrictEqual(pick(a, [k]), pick(b, [k]))) restartOnly.push([...path, k].join("."));
    } else restartOnly.push(path.join("."));
  }
  return {
    restartOnly,
    sources: diffById(current.sources, next.sources),
    sinks: diffById(current.sinks, next.sinks),
  };
}

const ids = (list: readonly { id: string }[]) => list.map((c) => c.id);

/**
 * Applies `next` and returns the config now running: `next`, minus any source that failed to
 * start (so the next reload tries it again), or `current` unchanged when the reload is refused.
 */
export async function applyReload(
  parts: LiveParts,
  current: Readonly<Config>,
  next: Readonly<Config>,
): Promise<Readonly<Config>> {
  const { log, telemetry } = parts;
  const plan = planReload(current, next);
  if (plan.restartOnly.length > 0) {
    log.error(
      { needsRestart: plan.restartOnly },
      `config reload refused: ${plan.restartOnly.join(", ")} can only change with a restart; the previous config keeps running`,
    );
    return current;
  }

  // Build every new sink before touching a running one, so a sink that cannot be built refuses
  // the whole reload instead of leaving a half-applied config behind.
  const built = new Map<string, Sink>();
  try {
    for (const cfg of [...plan.sinks.added, ...plan.sinks.changed])
      built.set(cfg.id, await parts.createSink(cfg));
  } catch (err) {
    for (const s of built.values()) await s.close().catch(() => {});
    log.error({ err }, "config reload refused: a sink could not be built; the previous config keeps running");
    return current;
  }

  // Sinks first, so new sinks are there when new sources start producing. A stopping shipper
  // finishes its in-flight batch within shutdownTimeoutMs or abandons it unacknowledged (resent).
  const stopping = [...plan.sinks.removed, ...plan.sinks.changed];
  await Promise.all(
    stopping.map(async ({ id }) => {
      const shipper = parts.shippers.get(id);
      parts.shippers.delete(id);
      await shipper?.stop(next.shutdownTimeoutMs);
      telemetry.health.forget("sink", id);
    }),
  );
  // A changed sink keeps its cursor (same id); a removed sink's cursor goes, so records only it
  // still needed can be deleted; an added sink starts at the oldest record the spool still holds.
  parts.spool.setSinks(ids(next.sinks));
  for (const cfg of [...plan.sinks.added, ...plan.sinks.changed])
    parts.shippers.set(cfg.id, parts.startShipper(cfg, built.get(cfg.id)!));

  // Sources that failed to start at an earlier reload are not running: clear their old state.
  for (const c of telemetry.health.snapshot().components)
    if (c.kind === "source" && !parts.sources.has(c.name)) telemetry.health.forget("source", c.name);
  for (const cfg of [...plan.sources.removed, ...plan.sources.changed]) {
    const source = parts.sources.get(cfg.id);
    parts.sources.delete(cfg.id);
    await source?.stop().catch((err) => log.warn({ err, source: cfg.id }, "source stop failed"));
    telemetry.health.forget("source", cfg.id);
  }
  const failed = new Set<string>();
  for (const cfg of [...plan.sources.added, ...plan.sources.changed]) {
    try {
      const source = await parts.createSource(cfg);
      try {
        await source.start();
      } catch (err) {
        await source.stop().catch(() => {});
        throw err;
      }
      parts.sources.set(cfg.id, source);
    } catch (err) {
      failed.add(cfg.id);
      const reason = `could not start after reload: ${err instanceof Error ? err.message : String(err)}`;
      telemetry.health.report("source", cfg.id, { ok: false, reason });
      log.error({ err, source: cfg.id }, "source could not start after reload; send SIGHUP again to retry");
    }
  }

  const summary = (p: Plan<{ id: string }>) => ({
    added: ids(p.added),
    removed: ids(p.removed),
    changed: ids(p.changed),
    unchanged: p.unchanged,
  });
  log.info(
    { sources: summary(plan.sources), sinks: summary(plan.sinks), failed: [...failed] },
    failed.size > 0 ? "config reloaded with errors" : "config reloaded",
  );
  return failed.size === 0 ? next : { ...next, sources: next.sources.filter((s) => !failed.has(s.id)) };
}
