import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Reading } from "../../record/record.js";
import { pollingSource } from "../polling.js";
import type { Source, SourceContext } from "../source.js";
import type { OnewireSourceConfig } from "./config.js";
import { parseW1Slave, THERMOMETER_FOLDER } from "./w1slave.js";

/**
 * DS18B20 probes under the Linux 1-Wire sysfs folder, read every `intervalMs`. A failed CRC, the
 * 85 °C power-on value and -127 °C (disconnected) are rejected with their reasons; the bus state
 * (folder missing, no probes, probes found) is logged only when it changes.
 */
export function createOnewireSource(cfg: OnewireSourceConfig, ctx: SourceContext): Source {
  const log = ctx.log.child({ folder: cfg.folder });
  let busState: string | undefined;

  function setBusState(state: string, fields: Record<string, unknown>, msg: string, warn: boolean): void {
    if (state === busState) return;
    busState = state;
    if (warn) log.warn(fields, msg);
    else log.info(fields, msg);
  }

  async function readProbe(device: string): Promise<Reading | undefined> {
    let text: string;
    try {
      text = await readFile(join(cfg.folder, device, "w1_slave"), "utf8");
    } catch (err) {
      ctx.ingest.reject(
        cfg.id,
        "sensor-fault",
        `${device}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
      );
      return undefined;
    }
    const res = parseW1Slave(text);
    if (!res.ok) {
      ctx.ingest.reject(cfg.id, res.reason, `${device}: ${res.detail}`);
      return undefined;
    }
    return { sensor: cfg.names[device] ?? device, temperature: res.celsius };
  }

  async function poll(): Promise<Reading[]> {
    let devices: string[];
    try {
      devices = (await readdir(cfg.folder)).filter((d) => THERMOMETER_FOLDER.test(d)).sort();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      setBusState(
        `error:${code}`,
        { code },
        "1-Wire folder unreadable (w1-gpio overlay loaded?); retrying",
        true,
      );
      return [];
    }
    if (devices.length === 0) {
      setBusState("empty", {}, "no 1-Wire thermometers found; retrying", true);
      return [];
    }
    setBusState(`probes:${devices.join(",")}`, { probes: devices }, "1-Wire thermometers found", false);
    return (await Promise.all(devices.map(readProbe))).filter((r): r is Reading => r !== undefined);
  }

  return pollingSource(cfg.id, "onewire", cfg.intervalMs, ctx, poll);
}
