import { afterEach, describe, expect, it } from "vitest";
import { type AgentProcess, freePort, tempDir } from "../helpers/agent-process.js";
import {
  agentConfig,
  brokerSource,
  SOAK,
  startAgentProcess,
  stopTorture,
} from "../helpers/reliability-agent.js";
import { checkDelivery, describeDelivery } from "../helpers/reliability-check.js";
import { FleetLoad, sleep } from "../helpers/reliability-load.js";
import { metricSum, scrape } from "../helpers/reliability-proc.js";
import { OutageProxy } from "../helpers/reliability-proxy.js";
import { CREDS, clientWithStream, type Kinesalite, readBack, startKinesalite } from "../kinesis/helpers.js";

/**
 * Sink outage, Kinesis flavour (issue 6): the agent ships to kinesalite through a TCP proxy that
 * goes down under load (connections refused and cut) and comes back. The spool holds the backlog,
 * /metrics shows it rise and drain, and the stream ends up with every acknowledged reading, once
 * after dropping duplicate ids, in per-sensor order (one shard per partition key = sensor).
 */

const OUTAGE_MS = SOAK ? 60_000 : 4000;

let agent: AgentProcess | undefined;
let load: FleetLoad | undefined;
let kinesis: Kinesalite | undefined;
let proxy: OutageProxy | undefined;
afterEach(async () => {
  await stopTorture({ load, agent });
  await proxy?.down();
  await kinesis?.close();
  agent = load = kinesis = proxy = undefined;
});

describe("sink outage: Kinesis endpoint away and back", () => {
  it(
    "absorbs the backlog and delivers every acknowledged reading once by id, in order",
    async () => {
      kinesis = await startKinesalite();
      const kc = await clientWithStream(kinesis.endpoint, "torture", 2);
      proxy = new OutageProxy(kinesis.port);
      await proxy.up();

      const dir = tempDir("edgespool-outage-kinesis-");
      const port = await freePort();
      const metricsPort = await freePort();
      const sink = {
        type: "kinesis",
        id: "kin",
        stream: "torture",
        endpoint: proxy.url,
        region: "us-east-1",
        ...CREDS,
        maxBufferAgeMs: 100,
        retry: { initialMs: 100, maxMs: 1000 },
      };
      const cfg = agentConfig(dir, { sources: [brokerSource(port)], sinks: [sink], metricsPort });
      agent = await startAgentProcess(dir, cfg, port);
      const depth = async () => metricSum(await scrape(metricsPort), "edgespool_sink_depth", 'sink="kin"');

      load = new FleetLoad({ port, rooms: 12, ratePerSec: 600, clients: 3 });
      load.start();
      await sleep(1500);
      const before = await depth();
      await proxy.down();
      await sleep(OUTAGE_MS);
      const during = await depth();
      await proxy.up();
      await sleep(1000);
      await load.stop();

      const until = Date.now() + 30_000;
      let after = await depth();
      while (after > 0 && Date.now() < until) {
        await sleep(250);
        after = await depth();
      }
      expect(during, `depth before ${before}, during ${during}`).toBeGreaterThan(Math.max(500, before * 2));
      expect(after, "drained after the endpoint came back").toBe(0);
      const m = await scrape(metricsPort);
      expect(metricSum(m, "edgespool_sink_errors_total", 'sink="kin"')).toBeGreaterThan(0);
      expect(metricSum(m, "edgespool_dropped_total")).toBe(0);

      const lines = (await readBack(kc, "torture")).flatMap((s) => s.users.map((u) => u.data));
      const d = checkDelivery(lines, load.acked.keys());
      expect(d.missing, describeDelivery(d, load.acked.size)).toEqual([]);
      expect(d.orderViolations).toEqual([]);
      expect(d.doubled).toEqual([]);
      expect(d.unparsable).toBe(0);
    },
    SOAK ? 300_000 : 60_000,
  );
});
