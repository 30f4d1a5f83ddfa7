import { describe, expect, it } from "vitest";
import { freePort, tempDir } from "../helpers/agent-process.js";
import {
  agentConfig,
  brokerSource,
  httpSink,
  SOAK,
  startAgentProcess,
  tortureParts,
} from "../helpers/reliability-agent.js";
import { checkDelivery, describeDelivery } from "../helpers/reliability-check.js";
import { NdjsonReceiver } from "../helpers/reliability-http.js";
import { FleetLoad, sleep } from "../helpers/reliability-load.js";
import { metricSum, RssSampler, scrape } from "../helpers/reliability-proc.js";

/**
 * Slow consumer (issue 6): the upstream accepts one small batch a second (503 + Retry-After for
 * the rest) while the fleet publishes far faster. The agent's memory stays flat (the backlog is
 * on disk, paged, never loaded), the spool grows but never past `maxBytes`, and once the
 * upstream speeds up every acknowledged reading is delivered or counted as dropped.
 */

const RUN_MS = SOAK ? 5 * 60_000 : 20_000;
const MAX_BYTES = 2 * 1024 * 1024;

const t = tortureParts();

describe("slow consumer: one small batch a second upstream", () => {
  it(
    "memory stays flat and the spool grows within maxBytes",
    async () => {
      const dir = tempDir("edgespool-slow-");
      const port = await freePort();
      const metricsPort = await freePort();
      t.receiver = new NdjsonReceiver({ batchesPerSec: 1 });
      await t.receiver.start(0);
      const cfg = agentConfig(dir, {
        sources: [brokerSource(port)],
        sinks: [httpSink(t.receiver.url, { maxBatchRecords: 50, retry: { initialMs: 200, maxMs: 1000 } })],
        spool: { maxBytes: MAX_BYTES, onFull: "drop-oldest" },
        metricsPort,
      });
      t.agent = await startAgentProcess(dir, cfg, port);
      const rss = new RssSampler(t.agent.child.pid!, 250);
      t.load = new FleetLoad({ port, rooms: 12, ratePerSec: 600, clients: 3 });
      t.load.start();

      const spoolBytes: number[] = [];
      const started = Date.now();
      while (Date.now() - started < RUN_MS) {
        await sleep(500);
        spoolBytes.push(metricSum(await scrape(metricsPort), "edgespool_spool_bytes"));
      }
      await t.load.stop();
      const samples = rss.stop();
      expect(t.agent.child.exitCode, t.agent.stderr()).toBeNull();

      const m = await scrape(metricsPort);
      const shipped = metricSum(m, "edgespool_shipped_total");
      console.info(
        `slow consumer: ${t.load.acked.size} acked, ${shipped} shipped at 1 batch/s, spool bytes ${spoolBytes.map((b) => Math.round(b / 1024)).join(" ")} KiB, RSS ${samples.map((s) => s.toFixed(0)).join(" ")} MiB`,
      );
      // The upstream really was the bottleneck: most of what was acknowledged is still waiting.
      expect(shipped).toBeLessThan(t.load.acked.size / 2);
      // The spool grew, and never past its bound.
      expect(Math.max(...spoolBytes)).toBeGreaterThan(Math.min(MAX_BYTES / 4, 512 * 1024));
      expect(Math.max(...spoolBytes)).toBeLessThanOrEqual(MAX_BYTES);
      // Memory flat: the last third of the run is not above the first third (beyond GC noise).
      expect(rss.median(0.66, 1)).toBeLessThan(rss.median(0.1, 0.4) * 1.25 + 32);
      expect(rss.peak).toBeLessThan(300);

      // The upstream recovers: every acknowledged reading is delivered, or was dropped and counted.
      t.receiver.throttle(0);
      const until = Date.now() + 30_000;
      while (
        Date.now() < until &&
        metricSum(await scrape(metricsPort), "edgespool_sink_depth", 'sink="upstream"') > 0
      )
        await sleep(200);
      const d = checkDelivery(t.receiver.lines, t.load.acked.keys());
      const dropped = metricSum(await scrape(metricsPort), "edgespool_dropped_total", 'reason="spool-full"');
      expect(d.missing.length, describeDelivery(d, t.load.acked.size)).toBeLessThanOrEqual(dropped);
      expect(d.orderViolations).toEqual([]);
      expect(d.doubled).toEqual([]);
    },
    SOAK ? 900_000 : 60_000,
  );
});
