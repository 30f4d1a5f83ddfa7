import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import mqtt from "mqtt";
import { Shipper } from "../../agent/pipeline/shipper.js";
import { contentId } from "../../agent/record/ids.js";
import { createKinesisClient } from "../../agent/sinks/kinesis/client.js";
import { kinesisSinkSchema } from "../../agent/sinks/kinesis/config.js";
import { createKinesisSink } from "../../agent/sinks/kinesis/index.js";
import { openSpool } from "../../agent/spool/index.js";
import { silentLogger } from "../../agent/telemetry/logger.js";
import { Telemetry } from "../../agent/telemetry/telemetry.js";
import { freePort } from "../../test/helpers/agent-process.js";
import { percentile } from "./footprint-load.js";
import { ackObserver, CREDS, newStream } from "./kinesis-setup.js";

/** Publish → PutRecords-ack latency: through the whole agent as a child process, and through the shipping loop alone. */

/**
 * kinesalite in its own process for the latency run: in this process its CPU bursts (decoding
 * each PutRecords) would stall the publisher's event loop and count as agent latency.
 */
export async function spawnKinesalite(): Promise<{ endpoint: string; stop: () => Promise<void> }> {
  const port = await freePort();
  const cli = createRequire(import.meta.url).resolve("kinesalite/cli.js");
  const child = spawn(process.execPath, [cli, "--port", String(port), "--createStreamMs", "0"], {
    stdio: "ignore",
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const c = createKinesisClient({ endpoint, region: "us-east-1", ...CREDS });
  for (let i = 0; ; i++) {
    try {
      await newStream(c, "latency", 1);
      break;
    } catch (err) {
      if (i > 100) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  c.destroy();
  return {
    endpoint,
    stop: async () => {
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r));
    },
  };
}

/** The whole agent as a child process: QoS1 MQTT at `rate`/s in, default kinesis batching out. */
export async function endToEnd(
  endpoint: string,
  seconds: number,
  rate: number,
): Promise<{ p50: number; p99: number; n: number; pubackP99: number }> {
  const acks = new Map<string, number>();
  const pubacks = new Map<string, number>();
  const obs = await ackObserver(endpoint, acks);
  const dir = mkdtempSync(join(tmpdir(), "edgespool-bench-kinesis-"));
  const port = await freePort();
  const config = {
    agentId: "bench",
    dataDir: join(dir, "data"),
    log: { level: "warn" },
    http: { enabled: false },
    sources: [
      {
        type: "mqtt-broker",
        id: "mqtt",
        port,
        topics: ["s/#"],
        topicTemplate: "s/{sensor}",
        sensor: "{sensor}",
      },
    ],
    sinks: [
      {
        type: "kinesis",
        id: "kinesis",
        stream: "latency",
        endpoint: obs.endpoint,
        region: "us-east-1",
        ...CREDS,
      },
    ],
  };
  writeFileSync(join(dir, "config.json"), JSON.stringify(config));
  const cli = join(dirname(fileURLToPath(import.meta.url)), "../../agent/cli/main.js");
  const child = spawn(process.execPath, [cli, "run", "--config", join(dir, "config.json")], {
    stdio: "ignore",
  });
  const published = new Map<string, number>();
  try {
    const client = await (async () => {
      for (let i = 0; ; i++) {
        try {
          return await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
            reconnectPeriod: 0,
            connectTimeout: 1000,
          });
        } catch (err) {
          if (i > 200) throw err;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    })();
    const sensors = 20;
    const start = performance.now();
    let sent = 0;
    while (performance.now() - start < seconds * 1000) {
      const due = Math.floor(((performance.now() - start) / 1000) * rate);
      for (; sent < due; sent++) {
        const sensor = `t${sent % sensors}`;
        const seq = Math.floor(sent / sensors);
        const temperature = 20 + (seq % 50) / 10;
        const id = contentId({ sensor, temperature, deviceSeq: seq })!;
        published.set(id, performance.now());
        client.publish(`s/${sensor}`, JSON.stringify({ temperature, seq }), { qos: 1 }, () =>
          pubacks.set(id, performance.now()),
        );
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    const until = performance.now() + 10_000;
    while (acks.size < published.size && performance.now() < until)
      await new Promise((r) => setTimeout(r, 50));
    await client.endAsync();
  } finally {
    child.kill("SIGTERM");
    await new Promise((r) => child.once("exit", r));
    await obs.close();
    rmSync(dir, { recursive: true, force: true });
  }
  // The first second is the agent warming up (JIT, first ListShards); leave it out.
  const t0 = Math.min(...published.values()) + 1000;
  const since = (m: Map<string, number>) =>
    [...published]
      .filter(([, t]) => t >= t0)
      .map(([id, t]) => (m.get(id) ?? Number.POSITIVE_INFINITY) - t)
      .sort((a, b) => a - b);
  const lat = since(acks);
  // PUBACK comes after the spool commit: the ingest side's share of the latency.
  const pubackP99 = percentile(since(pubacks), 99);
  return { p50: percentile(lat, 50), p99: percentile(lat, 99), n: lat.length, pubackP99 };
}

/**
 * Spool append → PutRecords ack through the real spool, the shipping loop (`Shipper`) and the
 * sink, in this process: the agent's own share of the end-to-end latency, without MQTT.
 */
export async function loopLatency(endpoint: string, seconds: number, rate: number) {
  const acks = new Map<string, number>();
  const obs = await ackObserver(endpoint, acks);
  const dir = mkdtempSync(join(tmpdir(), "edgespool-bench-kinesis-loop-"));
  const telemetry = new Telemetry(silentLogger());
  const spool = openSpool({
    dir,
    sync: "normal",
    maxBytes: 2 ** 30,
    maxAgeMs: 1e12,
    onFull: "drop-oldest",
    telemetry,
  });
  spool.setSinks(["kinesis"]);
  const cfg = kinesisSinkSchema.parse({
    type: "kinesis",
    id: "kinesis",
    stream: "loop",
    endpoint: obs.endpoint,
    region: "us-east-1",
    ...CREDS,
  });
  const sink = createKinesisSink(cfg, { agentId: "bench", dataDir: dir, log: silentLogger(), telemetry });
  const shipper = new Shipper(spool, sink, cfg, [], telemetry);
  shipper.start();
  const appended = new Map<string, number>();
  const start = performance.now();
  let sent = 0;
  while (performance.now() - start < seconds * 1000) {
    const due = Math.floor(((performance.now() - start) / 1000) * rate);
    const batch = [];
    for (; sent < due; sent++) {
      const rx = new Date().toISOString();
      const id = `L-${sent}`;
      batch.push({
        id,
        sensor: `t${sent % 20}`,
        ts: rx,
        temperature: 21.5,
        source: "bench",
        agent: "bench",
        rx,
      });
    }
    if (batch.length > 0) {
      spool.append(batch);
      const t = performance.now();
      for (const r of batch) appended.set(r.id, t);
      // The spool's commit notification wakes the shipper; notifying again would count twice.
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  const until = performance.now() + 10_000;
  while (acks.size < appended.size && performance.now() < until) await new Promise((r) => setTimeout(r, 50));
  await shipper.stop(2000);
  spool.close();
  await obs.close();
  rmSync(dir, { recursive: true, force: true });
  const t0 = start + 1000;
  const lat = [...appended]
    .filter(([, t]) => t >= t0)
    .map(([id, t]) => (acks.get(id) ?? Number.POSITIVE_INFINITY) - t)
    .sort((a, b) => a - b);
  return { p50: percentile(lat, 50), p99: percentile(lat, 99), n: lat.length };
}
