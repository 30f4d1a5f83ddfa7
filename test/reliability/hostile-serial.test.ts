import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { readNdjsonDir } from "../../agent/sinks/file/read.js";
import {
  type AgentProcess,
  freePort,
  killHard,
  spawnAgent,
  tempDir,
  waitForPort,
} from "../helpers/agent-process.js";
import { agentConfig, fileSink, SOAK } from "../helpers/reliability-agent.js";
import { describeDelivery, waitForDelivery } from "../helpers/reliability-check.js";
import { badPayloads, goodPayload } from "../helpers/reliability-fuzz.js";
import { sleep } from "../helpers/reliability-load.js";
import { metricSum, RssSampler, scrape } from "../helpers/reliability-proc.js";
import { haveSocat, PtyPair } from "../helpers/socat-pty.js";

/**
 * Hostile serial lines (issue 6) through a socat PTY pair into the agent's serial source: fuzzed
 * lines (random bytes, invalid UTF-8, deep JSON, lines far over maxLineBytes, fast-check values)
 * with valid JSON readings interleaved. No crash, RSS bounded, one counted reject per bad line,
 * and every valid line stored.
 */

const BAD = Number(process.env.EDGESPOOL_FUZZ_N ?? (SOAK ? 100_000 : 20_000));
const GOOD_EVERY = 10;

let agent: AgentProcess | undefined;
let pty: PtyPair | undefined;
afterEach(async () => {
  if (agent) await killHard(agent);
  await pty?.stop();
  agent = pty = undefined;
});

describe.skipIf(!haveSocat)("hostile serial lines", () => {
  it(
    `${BAD} fuzzed lines: no crash, bounded memory, every reject counted, good lines arrive`,
    async () => {
      const dir = tempDir("edgespool-fuzz-serial-");
      pty = new PtyPair(join(dir, "ttyDEV"), join(dir, "ttySENSOR"));
      await pty.start();
      const metricsPort = await freePort();
      const source = { type: "serial", id: "serial", path: pty.device, baudRate: 115200, maxLineBytes: 4096 };
      const cfg = agentConfig(dir, { sources: [source], sinks: [fileSink(dir)], metricsPort });
      agent = spawnAgent(dir, cfg);
      await waitForPort(metricsPort, 30_000);
      const rss = new RssSampler(agent.child.pid!, 200);
      const out = join(dir, "out");

      // The port is open once a first good line comes through; only then does the fuzz start.
      const first = goodPayload("serial/t0", 0);
      const ready = new Set([first.id]);
      let d = await (async () => {
        const until = Date.now() + 20_000;
        for (;;) {
          await pty!.write(Buffer.concat([first.payload, Buffer.from("\n")]));
          const r = await waitForDelivery(() => readNdjsonDir(out), ready, 1000);
          if (r.missing.length === 0 || Date.now() > until) return r;
        }
      })();
      expect(d.missing, "the serial source never read a line").toEqual([]);
      const before = metricSum(await scrape(metricsPort), "edgespool_rejected_total", 'source="serial"');

      const bad = badPayloads(BAD, { seed: 9, maxBytes: 64 * 1024, lineSafe: true, parser: {} });
      const good = new Set<string>([first.id]);
      let chunk: Buffer[] = [];
      let chunkBytes = 0;
      for (let i = 0; i < bad.length; i++) {
        chunk.push(bad[i]!, Buffer.from("\n"));
        chunkBytes += bad[i]!.length + 1;
        if (i % GOOD_EVERY === 0) {
          const g = goodPayload(`serial/t${1 + (i % 3)}`, i + 1);
          good.add(g.id);
          chunk.push(g.payload, Buffer.from("\n"));
          chunkBytes += g.payload.length + 1;
        }
        if (chunkBytes > 64 * 1024 || i === bad.length - 1) {
          await pty.write(Buffer.concat(chunk));
          chunk = [];
          chunkBytes = 0;
        }
      }

      d = await waitForDelivery(() => readNdjsonDir(out), good, 30_000);
      let rejected = 0;
      const until = Date.now() + 15_000;
      while (Date.now() < until) {
        rejected =
          metricSum(await scrape(metricsPort), "edgespool_rejected_total", 'source="serial"') - before;
        if (rejected >= bad.length) break;
        await sleep(200);
      }
      rss.stop();
      expect(agent.child.exitCode, agent.stderr()).toBeNull();
      expect(d.missing, describeDelivery(d, good.size)).toEqual([]);
      expect(d.unique, "nothing but the good lines was stored").toBe(good.size);
      expect(rejected, "one counted reject per bad line").toBe(bad.length);
      console.info(
        `hostile serial: ${bad.length} bad + ${good.size} good lines, agent RSS peak ${rss.peak.toFixed(0)} MiB`,
      );
      expect(rss.peak).toBeLessThan(400);
      expect(rss.median(0.66, 1)).toBeLessThan(rss.median(0, 0.33) * 1.5 + 64);
    },
    SOAK ? 600_000 : 60_000,
  );
});
