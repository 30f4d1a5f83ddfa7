import { mkdtempSync, rmSync } from "node:fs";
import { type AddressInfo, createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Aedes } from "aedes";
import { createIngest } from "../../agent/pipeline/ingest.js";
import { mqttBrokerSourceSchema } from "../../agent/sources/mqtt-broker/config.js";
import { createMqttBrokerSource } from "../../agent/sources/mqtt-broker/index.js";
import { openSpool } from "../../agent/spool/index.js";
import { silentLogger } from "../../agent/telemetry/logger.js";
import { Telemetry } from "../../agent/telemetry/telemetry.js";
import { connectPublishers, publishWindowed } from "../../test/helpers/mqtt-publisher.js";
import type { Bench } from "./types.js";

/**
 * Durable ingest through the embedded broker at QoS1 (parse, group commit into a real spool,
 * PUBACK after commit) against what plain aedes relays at QoS1 to one subscriber with no spool,
 * with the same publishers and in-flight window, in the same process and run.
 */

const PUBLISHERS = 4;
const WINDOW = 200;
const MiB = 2 ** 20;
const T0 = Date.UTC(2026, 10, 22);

function payload(i: number): string {
  return JSON.stringify({
    sensor: `room-${i % 500}/t1`,
    temperature: 20 + (i % 100) / 10,
    humidity: 40 + (i % 30),
    ts: T0 + i * 10,
  });
}

interface Rate {
  /** Messages per wall-clock second. */
  rate: number;
  /** Messages per second of this process's CPU time: steadier than wall time on a busy machine. */
  perCpu: number;
}

function cpuSeconds(since: NodeJS.CpuUsage): number {
  const c = process.cpuUsage(since);
  return (c.user + c.system) / 1e6;
}

async function durableRate(total: number): Promise<Rate & { peakRss: number; stored: number }> {
  const dir = mkdtempSync(join(tmpdir(), "edgespool-bench-broker-"));
  const telemetry = new Telemetry(silentLogger());
  const spool = openSpool({
    dir,
    sync: "normal",
    maxBytes: 4 * 1024 * MiB,
    maxAgeMs: 1e12,
    onFull: "drop-oldest",
    telemetry,
  });
  spool.setSinks(["out"]);
  const ingest = createIngest(spool, telemetry, { agentId: "bench", maxCommitRecords: 5000 });
  const cfg = mqttBrokerSourceSchema.parse({ type: "mqtt-broker", id: "bench", port: 0 });
  const src = createMqttBrokerSource(cfg, {
    agentId: "bench",
    dataDir: dir,
    ingest,
    log: silentLogger(),
    telemetry,
  });
  await src.start();
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 50);
  const clients = await connectPublishers(src.port, PUBLISHERS, "pub");
  try {
    const t = performance.now();
    const cpu = process.cpuUsage();
    await publishWindowed(clients, total, WINDOW, "bench/t", payload);
    const secs = (performance.now() - t) / 1000;
    return {
      rate: total / secs,
      perCpu: total / cpuSeconds(cpu),
      peakRss: peak,
      stored: spool.stats().records,
    };
  } finally {
    clearInterval(sampler);
    await Promise.all(clients.map((c) => c.endAsync(true)));
    await src.stop();
    await ingest.close();
    spool.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function relayRate(total: number): Promise<Rate> {
  const broker = new Aedes();
  await broker.listen();
  const server: Server = createServer(broker.handle);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  const [sub] = await connectPublishers(port, 1, "sub");
  const publishers = await connectPublishers(port, PUBLISHERS, "pub");
  try {
    await sub!.subscribeAsync("bench/#", { qos: 1 });
    let received = 0;
    const all = new Promise<void>((resolve) =>
      sub!.on("message", () => {
        if (++received === total) resolve();
      }),
    );
    const t = performance.now();
    const cpu = process.cpuUsage();
    await publishWindowed(publishers, total, WINDOW, "bench/t", payload);
    await all;
    return { rate: total / ((performance.now() - t) / 1000), perCpu: total / cpuSeconds(cpu) };
  } finally {
    await Promise.all([sub!, ...publishers].map((c) => c.endAsync(true)));
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

export const run: Bench = async ({ quick }) => {
  const total = quick ? 20_000 : 100_000;
  // Warm both paths (JIT, SQLite page cache), then alternate and keep each one's best.
  await relayRate(1000);
  await durableRate(1000);
  const rounds = quick ? 1 : 3;
  let relay: Rate = { rate: 0, perCpu: 0 };
  let durable = { rate: 0, perCpu: 0, peakRss: 0, stored: 0 };
  for (let i = 0; i < rounds; i++) {
    const r = await relayRate(total);
    relay = { rate: Math.max(relay.rate, r.rate), perCpu: Math.max(relay.perCpu, r.perCpu) };
    const d = await durableRate(total);
    durable = {
      rate: Math.max(durable.rate, d.rate),
      perCpu: Math.max(durable.perCpu, d.perCpu),
      peakRss: Math.max(durable.peakRss, d.peakRss),
      stored: d.stored,
    };
  }
  if (durable.stored !== Math.ceil(total / PUBLISHERS) * PUBLISHERS)
    throw new Error(`durable run stored ${durable.stored} of ${total} messages`);
  const note = `${PUBLISHERS} publishers x ${WINDOW} in flight, ${total} messages, content ids, best of ${rounds}`;
  return [
    {
      name: "durable QoS1 ingest via embedded broker (msg/s)",
      value: durable.rate,
      unit: "msg/s",
      baselineName: "aedes QoS1 relay to a subscriber, no spool",
      baseline: relay.rate,
      ratio: durable.rate / relay.rate,
      target: ">= 0.85",
      peakRssMiB: durable.peakRss / MiB,
      note,
    },
    {
      name: "durable QoS1 ingest via embedded broker (msg per CPU-s)",
      value: durable.perCpu,
      unit: "msg/CPU-s",
      baselineName: "aedes QoS1 relay to a subscriber, no spool",
      baseline: relay.perCpu,
      ratio: durable.perCpu / relay.perCpu,
      target: ">= 0.85",
      note: `${note}; CPU time of the whole process, steadier than wall time on a shared machine`,
    },
  ];
};
