import type { Reading } from "../../record/record.js";
import type { Source, SourceContext } from "../source.js";
import type { HostSourceConfig } from "./config.js";
import { systemTemperatures, type TemperatureReader } from "./reader.js";

export interface HostDeps {
  read?: TemperatureReader;
}

/**
 * The board's own temperatures (SoC, cores, chipset) every `intervalMs`. A VM or container
 * usually exposes none: that is said once, not every interval, and no reading is ever null.
 */
export function createHostSource(cfg: HostSourceConfig, ctx: SourceContext, deps: HostDeps = {}): Source {
  const read = deps.read ?? systemTemperatures;
  const prefix = cfg.sensorPrefix ?? ctx.agentId;
  const log = ctx.log;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;
  /** Whether the last poll found any temperature; undefined before the first. */
  let available: boolean | undefined;

  function collect(t: Awaited<ReturnType<TemperatureReader>>): Reading[] {
    const found: [string, number | null][] = [];
    if (cfg.include.includes("main")) found.push(["cpu", t.main]);
    if (cfg.include.includes("cores")) for (const [i, c] of t.cores.entries()) found.push([`core${i}`, c]);
    if (cfg.include.includes("chipset")) found.push(["chipset", t.chipset]);
    const readings: Reading[] = [];
    for (const [name, value] of found) {
      if (typeof value !== "number" || !Number.isFinite(value)) continue;
      if (value < cfg.range.min || value > cfg.range.max) {
        ctx.ingest.reject(
          cfg.id,
          "out-of-range",
          `${name} ${value} °C outside ${cfg.range.min}..${cfg.range.max}`,
        );
        continue;
      }
      readings.push({ sensor: `${prefix}/${name}`, temperature: value });
    }
    return readings;
  }

  async function poll(): Promise<void> {
    let readings: Reading[];
    try {
      readings = collect(await read());
    } catch (err) {
      ctx.telemetry.warnLimited(
        `host:${cfg.id}:read`,
        { source: cfg.id, err: String(err) },
        "host temperature read failed",
      );
      return;
    }
    const now = readings.length > 0;
    if (now !== available) {
      if (now) log.info({ sensors: readings.map((r) => r.sensor) }, "host temperatures available");
      else log.warn("this machine exposes no temperature sensors (VM or container?); polling on quietly");
      available = now;
    }
    if (!now) return;
    try {
      await ctx.ingest.submit(cfg.id, readings);
    } catch (err) {
      ctx.telemetry.warnLimited(
        `host:${cfg.id}:submit`,
        { source: cfg.id, err: String(err) },
        "ingest failed",
      );
    }
  }

  function loop(): void {
    running = poll()
      .catch((err: unknown) => log.error({ err: String(err) }, "poll failed"))
      .finally(() => {
        running = undefined;
        if (!stopped) timer = setTimeout(loop, cfg.intervalMs);
      });
  }

  return {
    id: cfg.id,
    type: "host",
    async start() {
      loop();
      await running;
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      await running;
    },
  };
}
