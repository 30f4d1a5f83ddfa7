import type { Reading } from "../../record/record.js";
import { pollingSource } from "../polling.js";
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

  async function poll(): Promise<Reading[]> {
    let readings: Reading[];
    try {
      readings = collect(await read());
    } catch (err) {
      ctx.telemetry.warnLimited(
        `host:${cfg.id}:read`,
        { source: cfg.id, err: String(err) },
        "host temperature read failed",
      );
      return [];
    }
    const now = readings.length > 0;
    if (now !== available) {
      if (now) log.info({ sensors: readings.map((r) => r.sensor) }, "host temperatures available");
      else log.warn("this machine exposes no temperature sensors (VM or container?); polling on quietly");
      available = now;
    }
    return readings;
  }

  return pollingSource(cfg.id, "host", cfg.intervalMs, ctx, poll);
}
