import { rmSync } from "node:fs";
import { join } from "node:path";
import pino from "pino";
import { afterEach } from "vitest";
import type { NewRecord } from "../../agent/record/record.js";
import type { SpoolOptions } from "../../agent/spool/index.js";
import type { SpoolApi } from "../../agent/spool/types.js";
import { Telemetry } from "../../agent/telemetry/telemetry.js";
import { tempDir as baseTempDir } from "../helpers/basics.js";
import { openTestSpool } from "../helpers/spool-ingest.js";

/** Cleanups for the calling test file: run in list order and emptied after each test. */
export function cleanupsAfterEach(): (() => void)[] {
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    for (const c of cleanups.splice(0)) c();
  });
  return cleanups;
}

export function tempDir(): { dir: string; cleanup: () => void } {
  const base = baseTempDir("edgespool-spool-");
  return { dir: join(base, "data"), cleanup: () => rmSync(base, { recursive: true, force: true }) };
}

export function record(
  id: string,
  sensor = "kitchen/t1",
  rxMs = Date.UTC(2026, 10, 22),
  extra = 0,
): NewRecord {
  const rx = new Date(rxMs).toISOString();
  return {
    id,
    sensor,
    ts: rx,
    temperature: 21.5,
    source: "test",
    agent: "pi-test",
    rx,
    ...(extra > 0 ? { attrs: { pad: "x".repeat(extra) } } : {}),
  };
}

export type Opts = Partial<SpoolOptions> & { dir: string };

export function open(o: Opts): { spool: SpoolApi; telemetry: Telemetry } {
  return openTestSpool(o);
}

export async function metric(t: Telemetry, name: string, labels: Record<string, string>): Promise<number> {
  const m = await t.registry.getSingleMetric(name)?.get();
  const v = m?.values.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val));
  return v?.value ?? 0;
}

/** A Telemetry whose log lines land in `lines`, parsed. */
export function capturingTelemetry(): { telemetry: Telemetry; lines: { level: number; msg: string }[] } {
  const lines: { level: number; msg: string }[] = [];
  const log = pino({ level: "debug" }, { write: (s: string) => lines.push(JSON.parse(s)) });
  return { telemetry: new Telemetry(log, { logIntervalMs: 0 }), lines };
}
