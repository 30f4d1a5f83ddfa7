import { join } from "node:path";
import { afterEach } from "vitest";
import { type AgentProcess, killHard, startAgentProcess } from "./agent-process.js";
import type { NdjsonReceiver } from "./reliability-http.js";
import type { FleetLoad } from "./reliability-load.js";

/** Config pieces shared by the torture tests; each test adds its own sinks and spool settings. */

export const SOAK = process.env.EDGESPOOL_SOAK === "1" || process.env.EDGESPOOL_SOAK === "true";

export function brokerSource(port: number, extra: Record<string, unknown> = {}) {
  return { type: "mqtt-broker", id: "local-mqtt", port, topics: ["sensors/#"], ...extra };
}

export function fileSink(dir: string, extra: Record<string, unknown> = {}) {
  return {
    type: "file",
    id: "files",
    dir: join(dir, "out"),
    maxBufferAgeMs: 50,
    maxBatchRecords: 500,
    retry: { initialMs: 50, maxMs: 500 },
    ...extra,
  };
}

export function httpSink(url: string, extra: Record<string, unknown> = {}) {
  return {
    type: "http",
    id: "upstream",
    url,
    maxBufferAgeMs: 50,
    maxBatchRecords: 500,
    retry: { initialMs: 50, maxMs: 500 },
    ...extra,
  };
}

export function agentConfig(
  dir: string,
  parts: { sources: unknown[]; sinks: unknown[]; spool?: unknown; metricsPort?: number },
) {
  return {
    agentId: "torture",
    dataDir: join(dir, "data"),
    sources: parts.sources,
    sinks: parts.sinks,
    ...(parts.spool === undefined ? {} : { spool: parts.spool }),
    http: parts.metricsPort === undefined ? { enabled: false } : { enabled: true, port: parts.metricsPort },
    shutdownTimeoutMs: 2000,
  };
}

export { startAgentProcess };

/** What a torture test starts; each test sets the parts as it starts them. */
export interface TortureParts {
  agent?: AgentProcess | undefined;
  load?: FleetLoad | undefined;
  receiver?: NdjsonReceiver | undefined;
}

/** Registers the file's teardown (`stopTorture`, then `more`) after each test, for the parts returned. */
export function tortureParts(more?: () => void): TortureParts {
  const t: TortureParts = {};
  afterEach(async () => {
    await stopTorture(t);
    t.agent = t.load = t.receiver = undefined;
    more?.();
  });
  return t;
}

/**
 * The torture tests' teardown, in the order that keeps it quiet: the load stops first (no
 * publishes into a dying broker), then the agent is SIGKILLed, then the upstream goes.
 */
export async function stopTorture(parts: {
  load?: FleetLoad | undefined;
  agent?: AgentProcess | undefined;
  receiver?: NdjsonReceiver | undefined;
}): Promise<void> {
  await parts.load?.stop(0);
  if (parts.agent) await killHard(parts.agent);
  await parts.receiver?.stop();
}
