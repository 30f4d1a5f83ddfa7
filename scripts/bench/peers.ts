import { existsSync } from "node:fs";
import { join } from "node:path";
import mqtt from "mqtt";
import { freePort, killHard, spawnAgent, tempDir, waitForPort } from "../../test/helpers/agent-process.js";
import {
  type BridgeOutcome,
  bridgeScenario,
  MOSQUITTO,
  MosquittoProcess,
} from "../../test/helpers/reliability-bridge.js";
import { connectPublishers, publishWindowed } from "../../test/helpers/mqtt-publisher.js";
import { RssSampler } from "../../test/helpers/reliability-proc.js";
import type { Bench, BenchRow } from "./types.js";

/**
 * edgespool beside its peers (issue 6), each in its own process as users run them:
 * 1. Mosquitto's QoS1 relay rate (publishers → mosquitto → one subscriber, no persistence) next
 *    to edgespool's durable ingest through its embedded broker (PUBACK after the SQLite commit,
 *    a file sink shipping meanwhile), with the same publishers and in-flight window.
 * 2. The MQTT-bridge user's alternative under SIGKILL: a Mosquitto bridge with persistence
 *    (autosave every second) and edgespool (embedded broker + mqtt sink), each killed and restarted
 *    at random moments under the same load; readings the relay acknowledged but the upstream
 *    never received are counted as lost, extra copies as duplicates.
 */

const PUBLISHERS = 4;
const WINDOW = 100;
const T0 = Date.UTC(2026, 10, 22);

function payload(i: number): string {
  return JSON.stringify({
    sensor: `room-${i % 500}/t1`,
    ts: T0 + i * 10,
    seq: i,
    temperature: 20 + (i % 100) / 10,
  });
}

async function mosquittoRelayRate(total: number): Promise<number> {
  const port = await freePort();
  const m = new MosquittoProcess(tempDir("edgespool-bench-mosq-"), port, ["max_inflight_messages 0"]);
  await m.start();
  const sub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: "sub", reconnectPeriod: 0 });
  const pubs = await connectPublishers(port, PUBLISHERS, "pub");
  try {
    await sub.subscribeAsync("sensors/#", { qos: 1 });
    const expected = Math.ceil(total / PUBLISHERS) * PUBLISHERS;
    let received = 0;
    const all = new Promise<void>((resolve) =>
      sub.on("message", () => {
        if (++received === expected) resolve();
      }),
    );
    const t = performance.now();
    await publishWindowed(pubs, total, WINDOW, "sensors/bench", payload);
    await all;
    return expected / ((performance.now() - t) / 1000);
  } finally {
    await Promise.all([sub, ...pubs].map((c) => c.endAsync(true)));
    await m.kill("SIGTERM");
  }
}

async function edgespoolIngestRate(total: number): Promise<{ rate: number; peakRss: number }> {
  const dir = tempDir("edgespool-bench-peers-");
  const port = await freePort();
  const agent = spawnAgent(dir, {
    agentId: "bench",
    dataDir: join(dir, "data"),
    sources: [{ type: "mqtt-broker", id: "devices", port, topics: ["sensors/#"] }],
    sinks: [{ type: "file", id: "files", dir: join(dir, "out") }],
    http: { enabled: false },
    log: { level: "warn" },
  });
  try {
    await waitForPort(port, 30_000);
    const rss = new RssSampler(agent.child.pid!, 100);
    const pubs = await connectPublishers(port, PUBLISHERS, "pub");
    const t = performance.now();
    await publishWindowed(pubs, total, WINDOW, "sensors/bench", payload);
    const secs = (performance.now() - t) / 1000;
    rss.stop();
    await Promise.all(pubs.map((c) => c.endAsync(true)));
    return { rate: (Math.ceil(total / PUBLISHERS) * PUBLISHERS) / secs, peakRss: rss.peak };
  } finally {
    await killHard(agent);
  }
}

export const run: Bench = async ({ quick }) => {
  if (!existsSync(MOSQUITTO))
    return [
      {
        name: "peers: skipped (mosquitto not installed: apt-get install mosquitto)",
        value: Number.NaN,
        unit: "",
      },
    ];
  const total = quick ? 10_000 : 50_000;
  await mosquittoRelayRate(1000); // warm the page cache and the JIT for both
  const relay = await mosquittoRelayRate(total);
  const ingest = await edgespoolIngestRate(total);
  const rows: BenchRow[] = [
    {
      name: "mosquitto QoS1 relay to a subscriber (peer)",
      value: relay,
      unit: "msg/s",
      note: `${PUBLISHERS} publishers x ${WINDOW} in flight, ${total} messages, no persistence`,
    },
    {
      name: "edgespool durable QoS1 ingest, CLI agent (embedded broker)",
      value: ingest.rate,
      unit: "msg/s",
      baselineName: "mosquitto QoS1 relay",
      baseline: relay,
      ratio: ingest.rate / relay,
      peakRssMiB: ingest.peakRss,
      note: "PUBACK after SQLite commit; file sink shipping meanwhile",
    },
  ];

  const scenario = {
    kills: quick ? 3 : 10,
    ratePerSec: 1000,
    intervalMs: quick ? 1500 : 2500,
    upstreamOutage: true,
  };
  // Quick mode runs only the careful Mosquitto setup (the fairer comparison) to stay in budget.
  const mosqDefault = quick ? undefined : await bridgeScenario("mosquitto", scenario);
  const mosqCareful = await bridgeScenario("mosquitto", { ...scenario, autosaveSec: 1 });
  const edge = await bridgeScenario("edgespool", scenario);
  const of = (o: BridgeOutcome) => `of ${o.acked.toLocaleString("en-US")} acked, ${o.kills} SIGKILLs`;
  const lostRow = (label: string, o: BridgeOutcome): BenchRow => ({
    name: `${label}: acked but lost (${of(o)})`,
    value: o.lost,
    unit: "msgs",
    note: `${o.unique} arrived, ${o.duplicates} duplicates`,
  });
  rows.push(
    ...(mosqDefault ? [lostRow("mosquitto bridge, persistence, default autosave", mosqDefault)] : []),
    lostRow("mosquitto bridge, persistence, autosave_interval 1", mosqCareful),
    {
      ...lostRow("edgespool bridge (embedded broker + mqtt sink)", edge),
      baselineName: "mosquitto bridge, autosave 1 s",
      baseline: mosqCareful.lost,
      target: "0",
    },
    {
      name: "mosquitto bridge duplicates (autosave 1 s; no id to drop them by)",
      value: mosqCareful.duplicates,
      unit: "msgs",
    },
    {
      name: "edgespool bridge duplicates (same id, consumers drop them)",
      value: edge.duplicates,
      unit: "msgs",
    },
  );
  return rows;
};
