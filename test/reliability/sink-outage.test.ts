import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { readNdjsonDir } from "../../agent/sinks/file/read.js";
import { type AgentProcess, freePort, tempDir } from "../helpers/agent-process.js";
import {
  agentConfig,
  brokerSource,
  fileSink,
  httpSink,
  SOAK,
  startAgentProcess,
  stopTorture,
} from "../helpers/reliability-agent.js";
import { describeDelivery, waitForDelivery } from "../helpers/reliability-check.js";
import { haveChattr, setImmutable } from "../helpers/reliability-fs.js";
import { NdjsonReceiver } from "../helpers/reliability-http.js";
import { FleetLoad, sleep, waitFor } from "../helpers/reliability-load.js";
import { metricSum, scrape, statusJson } from "../helpers/reliability-proc.js";

/**
 * Sink outage (issue 6): under load, the http sink's server goes away (port closed, connections
 * cut) and the file sink's folder becomes unwritable (`chattr +i`, which binds root too; see
 * reliability-fs.ts), then both come back. The spool absorbs the backlog and drains it, nothing
 * acknowledged is lost, order holds, and both `edgespool status --json` and /metrics show the
 * backlog rising during the outage and falling to zero after it.
 */

const OUTAGE_MS = SOAK ? 60_000 : 4000;
/**
 * How long the outage may be stretched past OUTAGE_MS until every depth reading (each sink, via
 * `status` and via /metrics) has seen the backlog pass the bar. On a slow machine the fleet
 * publishes slower and each `status` run takes seconds, so a fixed outage may end before either
 * shows it; the bar itself does not move.
 */
const OUTAGE_LIMIT_MS = 45_000;
const SINKS = ["files", "upstream"];
const SOURCES = ["status", "metrics"] as const;

let agent: AgentProcess | undefined;
let load: FleetLoad | undefined;
let receiver: NdjsonReceiver | undefined;
let frozen: string | undefined;
afterEach(async () => {
  if (frozen) setImmutable(frozen, false);
  await stopTorture({ load, agent, receiver });
  agent = load = receiver = frozen = undefined;
});

interface Sample {
  phase: "before" | "outage" | "after";
  source: "status" | "metrics";
  depth: Record<string, number>;
}

/** One sink's depth as one source reported it, in order, and its peaks before and during the outage. */
function series(samples: readonly Sample[], sink: string, source: Sample["source"]) {
  const points = samples
    .filter((s) => s.source === source)
    .map((s) => ({ phase: s.phase, depth: s.depth[sink] ?? 0 }));
  const peak = (phase: Sample["phase"]) =>
    Math.max(0, ...points.filter((s) => s.phase === phase).map((s) => s.depth));
  return {
    points,
    peakBefore: peak("before"),
    peakOutage: peak("outage"),
    // Rising: the outage backlog is far above anything seen while the sink kept up.
    bar: Math.max(500, peak("before") * 2),
  };
}

describe("sink outage: http server down and file folder unwritable, then back", () => {
  it.skipIf(!haveChattr)(
    "absorbs the backlog, drains it, loses nothing, and reports it",
    async () => {
      const dir = tempDir("edgespool-outage-");
      const outDir = join(dir, "out");
      const port = await freePort();
      const metricsPort = await freePort();
      receiver = new NdjsonReceiver();
      await receiver.start(0);
      const cfg = agentConfig(dir, {
        sources: [brokerSource(port)],
        sinks: [fileSink(dir), httpSink(receiver.url, { timeoutMs: 2000 })],
        metricsPort,
      });
      agent = await startAgentProcess(dir, cfg, port);
      const configFile = join(dir, "config.json");

      const samples: Sample[] = [];
      let phase: Sample["phase"] = "before";
      let sampling = true;
      // Two loops: /metrics answers in milliseconds, `status` is a whole CLI process each time.
      const sampleLoop = async (
        source: Sample["source"],
        take: () => Promise<Record<string, number>>,
        everyMs: number,
      ) => {
        while (sampling) {
          try {
            const depth = await take();
            // The phase when the answer came back: a slow sample is attributed to where it ended.
            samples.push({ phase, source, depth });
          } catch {
            // A sample lost to a busy machine is fine; each phase has several.
          }
          await sleep(everyMs);
        }
      };
      const samplers = Promise.all([
        sampleLoop(
          "status",
          async () => Object.fromEntries((await statusJson(configFile)).sinks.map((s) => [s.sink, s.depth])),
          100,
        ),
        sampleLoop(
          "metrics",
          async () => {
            const m = await scrape(metricsPort);
            return Object.fromEntries(
              ["files", "upstream"].map((k) => [k, metricSum(m, "edgespool_sink_depth", `sink="${k}"`)]),
            );
          },
          200,
        ),
      ]);

      load = new FleetLoad({ port, rooms: 12, ratePerSec: 800, clients: 3 });
      load.start();
      await sleep(1500);

      phase = "outage";
      await receiver.stop();
      setImmutable(outDir, true);
      frozen = outDir;
      await sleep(OUTAGE_MS);
      // The outage lasts until every reading has shown the backlog (at most OUTAGE_LIMIT_MS more);
      // if one never does, the assertions below say which and show its samples.
      await waitFor(
        () =>
          SINKS.every((sink) =>
            SOURCES.every((source) => {
              const s = series(samples, sink, source);
              return s.peakOutage > s.bar;
            }),
          ),
        OUTAGE_LIMIT_MS,
      );
      const ackedDuringOutage = load.acked.size;

      setImmutable(outDir, false);
      frozen = undefined;
      await receiver.start();
      phase = "after";
      await sleep(1000);
      await load.stop();
      expect(load.acked.size).toBeGreaterThan(ackedDuringOutage);

      const acked = load.acked;
      for (const [name, read] of [
        ["file", () => readNdjsonDir(outDir)],
        ["http", () => receiver!.lines],
      ] as const) {
        const d = await waitForDelivery(read, acked, 30_000);
        expect(d.missing, `${name}: ${describeDelivery(d, acked.size)}`).toEqual([]);
        expect(d.orderViolations, `${name}: per-sensor order`).toEqual([]);
        expect(d.doubled, `${name}: one id per device message`).toEqual([]);
        expect(d.unparsable, `${name}: torn lines`).toBe(0);
      }
      // Let both samplers see the drained state (a `status` run takes seconds on a busy machine), then
      // stop them; a depth that never reaches 0 fails below with its samples.
      await waitFor(
        () =>
          SINKS.every((sink) =>
            SOURCES.every((source) => series(samples, sink, source).points.at(-1)?.depth === 0),
          ),
        30_000,
      );
      sampling = false;
      await samplers;

      const m = await scrape(metricsPort);
      expect(metricSum(m, "edgespool_sink_errors_total", 'sink="upstream"')).toBeGreaterThan(0);
      expect(metricSum(m, "edgespool_sink_errors_total", 'sink="files"')).toBeGreaterThan(0);
      expect(metricSum(m, "edgespool_dropped_total")).toBe(0);

      for (const sink of SINKS) {
        for (const source of SOURCES) {
          const { points, peakOutage, bar } = series(samples, sink, source);
          const last = points.at(-1)?.depth;
          const what = `${sink} depth via ${source}: ${points.map((s) => `${s.phase[0]}${s.depth}`).join(" ")}`;
          if (source === "status") console.info(what);
          expect(peakOutage, what).toBeGreaterThan(bar);
          // Falling: drained to nothing once the sink is back.
          expect(last, what).toBe(0);
        }
      }
    },
    SOAK ? 300_000 : 90_000 + OUTAGE_LIMIT_MS,
  );
});
