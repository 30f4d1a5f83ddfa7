import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readNdjsonDir } from "../../agent/sinks/file/read.js";
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
import { describeDelivery, waitForDelivery } from "../helpers/reliability-check.js";
import { NdjsonReceiver } from "../helpers/reliability-http.js";
import { FleetLoad, sleep } from "../helpers/reliability-load.js";

/**
 * Crash loop (issue 6): the simulated fleet publishes QoS1 at a steady rate into the agent's
 * embedded broker while the agent is SIGKILLed at random moments and restarted. Every reading
 * whose PUBACK a device saw must reach every sink, under one id, each sensor in its device's
 * order (device sequence).
 */

const KILLS = Number(process.env.EDGESPOOL_CRASH_KILLS ?? (SOAK ? 25 : 3));

const t = tortureParts();

describe("crash loop: SIGKILL under steady QoS1 load from the simulator", () => {
  it(
    `keeps every acknowledged reading in every sink across ${KILLS} kills`,
    async () => {
      const dir = tempDir("edgespool-crashloop-");
      const port = await freePort();
      t.receiver = new NdjsonReceiver();
      await t.receiver.start(0);
      const sinks: unknown[] = [fileSink(dir), httpSink(t.receiver.url)];
      const cfg = agentConfig(dir, { sources: [brokerSource(port)], sinks });
      t.agent = await startAgentProcess(dir, cfg, port);

      t.load = new FleetLoad({ port, rooms: 12, ratePerSec: 1500, clients: 4 });
      t.load.start();
      let restarts = 0;
      for (let k = 0; k < KILLS; k++) {
        // Random moments, some right after a restart (mid-replay), some deep into steady state.
        await sleep(k % 3 === 0 ? 150 + Math.random() * 300 : 400 + Math.random() * 1200);
        await killHard(t.agent);
        t.agent = await startAgentProcess(dir, cfg, port);
        restarts++;
      }
      // Steady state after the last restart, so the final replay and new load overlap.
      await sleep(1500);
      await t.load.stop();
      const acked = t.load.acked;
      expect(restarts).toBe(KILLS);
      expect(acked.size, `sent ${t.load.sent}`).toBeGreaterThan(300);

      const outputs: [string, () => readonly string[]][] = [
        ["file", () => readNdjsonDir(join(dir, "out"))],
        ["http", () => t.receiver!.lines],
      ];
      for (const [name, read] of outputs) {
        const d = await waitForDelivery(read, acked, 20_000);
        console.info(
          `crash loop ${name}: ${acked.size} acked of ${t.load.sent} sent, ${d.unique} unique, ${d.duplicates} duplicate lines, ${KILLS} kills`,
        );
        expect(d.missing, `${name}: ${describeDelivery(d, acked.size)}`).toEqual([]);
        expect(d.orderViolations, `${name}: per-sensor order`).toEqual([]);
        expect(d.doubled, `${name}: one id per device message`).toEqual([]);
        expect(d.unparsable, `${name}: torn or foreign lines`).toBe(0);
        // Duplicates are allowed (resent batches), but never more records than were sent.
        expect(d.unique).toBeLessThanOrEqual(t.load.sent);
      }
    },
    SOAK ? 600_000 : 60_000,
  );
});
