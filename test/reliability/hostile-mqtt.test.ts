import { join } from "node:path";
import mqtt from "mqtt";
import { afterEach, describe, expect, it } from "vitest";
import { readNdjsonDir } from "../../agent/sinks/file/read.js";
import { type AgentProcess, freePort, killHard, tempDir } from "../helpers/agent-process.js";
import {
  agentConfig,
  brokerSource,
  fileSink,
  SOAK,
  startAgentProcess,
} from "../helpers/reliability-agent.js";
import { describeDelivery, waitForDelivery } from "../helpers/reliability-check.js";
import { badPayloads, goodPayload } from "../helpers/reliability-fuzz.js";
import { sleep } from "../helpers/reliability-load.js";
import { metricSum, RssSampler, scrape } from "../helpers/reliability-proc.js";

/**
 * Hostile MQTT input (issue 6): fuzzed payloads (fast-check values, raw random bytes, huge
 * lengths, deep JSON nesting, invalid UTF-8, non-finite numbers) published at QoS1 into the
 * agent's embedded broker, with valid readings interleaved, plus packets over maxPacketSize on a
 * connection of their own. The agent must not crash, its RSS must stay bounded, the reject
 * counters must add up to exactly the bad messages sent, and every valid reading must arrive.
 */

const BAD = Number(process.env.EDGESPOOL_FUZZ_N ?? (SOAK ? 100_000 : 20_000));
const GOOD_EVERY = 10;
const OVERSIZE = 20;
const MAX_PACKET = 64 * 1024;
const BAD_TOPIC = "sensors/fuzz/bad";

let agent: AgentProcess | undefined;
afterEach(async () => {
  if (agent) await killHard(agent);
  agent = undefined;
});

describe("hostile MQTT payloads", () => {
  it(
    `${BAD} fuzzed payloads: no crash, bounded memory, every reject counted, good data arrives`,
    async () => {
      const dir = tempDir("edgespool-fuzz-mqtt-");
      const port = await freePort();
      const metricsPort = await freePort();
      const source = brokerSource(port, { maxPacketSize: MAX_PACKET });
      const cfg = agentConfig(dir, { sources: [source], sinks: [fileSink(dir)], metricsPort });
      agent = await startAgentProcess(dir, cfg, port);
      const rss = new RssSampler(agent.child.pid!, 200);

      const bad = badPayloads(BAD, {
        seed: 6,
        maxBytes: MAX_PACKET - 1024,
        lineSafe: false,
        parser: {},
        topic: BAD_TOPIC,
      });
      const clients = [0, 1].map((c) =>
        mqtt.connect(`mqtt://127.0.0.1:${port}`, {
          clientId: `fuzz-${c}`,
          reconnectPeriod: 100,
          protocolVersion: 4,
        }),
      );
      await Promise.all(clients.map((c) => new Promise((r) => c.once("connect", r))));

      const goodAcked = new Set<string>();
      let badAcked = 0;
      let inflight = 0;
      let goodSeq = 0;
      for (let i = 0; i < bad.length; i++) {
        const client = clients[i % 2]!;
        while (inflight >= 200 || !client.connected) await sleep(1);
        inflight++;
        client.publish(BAD_TOPIC, bad[i]!, { qos: 1 }, (err) => {
          inflight--;
          if (!err) badAcked++;
        });
        if (i % GOOD_EVERY === 0) {
          const g = goodPayload(`fuzz/t${i % 2}`, goodSeq++);
          inflight++;
          client.publish(`sensors/fuzz/t${i % 2}`, g.payload, { qos: 1 }, (err) => {
            inflight--;
            if (!err) goodAcked.add(g.id);
          });
        }
      }
      while (inflight > 0) await sleep(10);

      // Packets past maxPacketSize, one connection each: whether the broker skips such a packet or
      // drops the connection, each is written exactly once and never resent.
      for (let k = 0; k < OVERSIZE; k++) {
        const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, { clientId: `huge-${k}`, reconnectPeriod: 0 });
        await new Promise((r) => c.once("connect", r));
        await new Promise<void>((r) =>
          c.publish("sensors/fuzz/huge", Buffer.alloc(MAX_PACKET * 2, 0x41), { qos: 0 }, () => r()),
        );
        await sleep(20);
        c.end(true);
      }
      await Promise.all(clients.map((c) => c.endAsync()));

      const expected = badAcked + OVERSIZE;
      let rejected = 0;
      const until = Date.now() + 20_000;
      while (Date.now() < until) {
        rejected = metricSum(await scrape(metricsPort), "edgespool_rejected_total", 'source="local-mqtt"');
        if (rejected >= expected) break;
        await sleep(200);
      }
      const samples = rss.stop();
      expect(agent.child.exitCode, agent.stderr()).toBeNull();
      expect(badAcked, "every bad payload is acknowledged (refused, not resent forever)").toBe(bad.length);
      expect(rejected, "sum of edgespool_rejected_total").toBe(expected);
      const m = await scrape(metricsPort);
      expect(metricSum(m, "edgespool_rejected_total", 'reason="too-large"')).toBeGreaterThanOrEqual(OVERSIZE);

      const d = await waitForDelivery(() => readNdjsonDir(join(dir, "out")), goodAcked, 20_000);
      expect(goodAcked.size).toBe(goodSeq);
      expect(d.missing, describeDelivery(d, goodAcked.size)).toEqual([]);
      expect(d.unique, "nothing but the good readings was stored").toBe(goodAcked.size);

      // Bounded: the peak stays far below what holding the input would take, and the last third
      // of the run is not climbing away from the first.
      const peak = Math.max(...samples);
      console.info(
        `hostile mqtt: ${bad.length} bad + ${goodSeq} good, agent RSS peak ${peak.toFixed(0)} MiB`,
      );
      expect(peak).toBeLessThan(400);
      expect(rss.median(0.66, 1)).toBeLessThan(rss.median(0, 0.33) * 1.5 + 64);
    },
    SOAK ? 600_000 : 60_000,
  );
});
