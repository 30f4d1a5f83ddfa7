import { rmSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { freePort, killHard, tempDir } from "../helpers/agent-process.js";
import {
  agentConfig,
  brokerSource,
  fileSink,
  httpSink,
  SOAK,
  startAgentProcess,
  tortureParts,
} from "../helpers/reliability-agent.js";
import { canMount, fillDisk, mountTmpfs, unmount } from "../helpers/reliability-fs.js";
import { NdjsonReceiver } from "../helpers/reliability-http.js";
import { FleetLoad, sleep, waitFor } from "../helpers/reliability-load.js";
import { RssSampler, statusJson } from "../helpers/reliability-proc.js";

/**
 * Unattended for months, compressed: the simulator publishes with every fault it has (malformed
 * and oversize payloads, duplicates, reordering, stuck sensors, spikes, dropouts) into the agent,
 * which ships through two sinks (http with outages, file), while its spool's disk fills up and is
 * freed again and the agent is SIGKILLed and restarted. At the end, with every fault gone, both
 * sinks drain, `/healthz` is 200, and for each sink shipped + Σ dropped + depth = stored. RSS
 * stays bounded throughout and, in the long run, flat. About 40 s by default; EDGESPOOL_SOAK=1
 * runs it for EDGESPOOL_SOAK_MINUTES (default 10).
 */

const MOUNTABLE = canMount();
if (!MOUNTABLE) console.warn("soak: mount -t tmpfs is not permitted here (needs root); skipped");
const RUN_MS = SOAK ? Number(process.env.EDGESPOOL_SOAK_MINUTES ?? 10) * 60_000 : 25_000;
/** Faults come one after another, each held this long, with a quiet gap after it. */
const FAULT_MS = SOAK ? 20_000 : 2_500;
const GAP_MS = SOAK ? 20_000 : 1_500;

const mounts: string[] = [];
const t = tortureParts(() => {
  for (const m of mounts.splice(0)) unmount(m);
});

describe.skipIf(!MOUNTABLE)("soak: every fault at once, two sinks", () => {
  it(
    "keeps the accounting identity and bounded memory through outages, full disks and SIGKILLs",
    async () => {
      const dir = tempDir("edgespool-soak-");
      const disk = join(dir, "disk");
      mountTmpfs(disk, "24m");
      mounts.push(disk);
      const port = await freePort();
      const metricsPort = await freePort();
      t.receiver = new NdjsonReceiver();
      await t.receiver.start(0);
      const cfg = {
        ...agentConfig(dir, {
          sources: [brokerSource(port)],
          sinks: [httpSink(t.receiver.url, { timeoutMs: 1000 }), fileSink(dir)],
          spool: { maxBytes: "8MiB" },
          metricsPort,
        }),
        dataDir: join(disk, "spool"),
        health: { sinkFailingMs: 1000 },
      };
      t.agent = await startAgentProcess(dir, cfg, port);
      let rss = new RssSampler(t.agent.child.pid!, 500);
      const peaks: number[] = [];
      t.load = new FleetLoad({
        port,
        rooms: 24,
        ratePerSec: 800,
        clients: 4,
        faults: {
          dropout: 0.01,
          stuck: 0.01,
          spike: 0.01,
          duplicate: 0.02,
          reorder: 0.02,
          malformed: 0.01,
          oversize: 0.005,
        },
      });
      t.load.start();

      const faults = ["http-down", "disk-full", "sigkill", "http-cut"] as const;
      const ballast = join(disk, "ballast");
      const started = Date.now();
      let kills = 0;
      for (let k = 0; Date.now() - started < RUN_MS; k++) {
        const fault = faults[k % faults.length]!;
        if (fault === "http-down") t.receiver.answer(503);
        else if (fault === "http-cut") await t.receiver.stop();
        else if (fault === "disk-full") fillDisk(ballast);
        else {
          await killHard(t.agent);
          peaks.push(rss.peak);
          rss.stop();
          t.agent = await startAgentProcess(dir, cfg, port);
          rss = new RssSampler(t.agent.child.pid!, 500);
          kills++;
        }
        await sleep(FAULT_MS);
        if (fault === "http-down") t.receiver.answer(undefined);
        else if (fault === "http-cut") await t.receiver.start();
        else if (fault === "disk-full") rmSync(ballast, { force: true });
        await sleep(GAP_MS);
      }
      await t.load.stop();

      // Every fault gone: both sinks drain and the agent says it is healthy.
      const file = join(dir, "config.json");
      let st = await statusJson(file);
      await waitFor(async () => (st = await statusJson(file)).sinks.every((s) => s.depth === 0), 60_000, 500);
      let code = 0;
      await waitFor(
        async () => (code = (await fetch(`http://127.0.0.1:${metricsPort}/healthz`)).status) === 200,
        30_000,
        500,
      );
      peaks.push(rss.peak);
      const samples = rss.stop();
      expect(code, await (await fetch(`http://127.0.0.1:${metricsPort}/healthz`)).text()).toBe(200);
      for (const s of st.sinks) {
        const dropped = Object.values(s.dropped).reduce((a, b) => a + b, 0);
        console.info(
          `soak ${s.sink}: shipped ${s.shipped}, dropped ${JSON.stringify(s.dropped)}, depth ${s.depth}`,
        );
        expect(s.depth, s.sink).toBe(0);
        expect(s.shipped + dropped + s.depth, `${s.sink}: ${JSON.stringify(s)}`).toBe(st.lastSeq);
      }
      expect(st.lastSeq).toBeGreaterThan(1000);
      expect(kills).toBeGreaterThan(0);
      console.info(
        `soak: ${Math.round(RUN_MS / 1000)} s, ${kills} kills, ${t.load.acked.size} acked, RSS peaks ${peaks.map((p) => p.toFixed(0)).join("/")} MiB`,
      );
      // Bounded in every incarnation (the unit's MemoryMax is 256M).
      for (const p of peaks) expect(p).toBeLessThan(200);
      if (SOAK) {
        // Flat in the last incarnation: its later samples are not above its earlier ones by much.
        const early = rss.median(0.1, 0.3);
        const late = rss.median(0.7, 1);
        expect(
          late - early,
          `RSS ${early.toFixed(0)} → ${late.toFixed(0)} MiB (${samples.length} samples)`,
        ).toBeLessThan(30);
      }
    },
    SOAK ? RUN_MS + 300_000 : 60_000,
  );
});
