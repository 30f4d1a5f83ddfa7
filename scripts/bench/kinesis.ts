import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, request, type ServerResponse } from "node:http";
import { createRequire } from "node:module";
import { type AddressInfo, createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { CreateStreamCommand, type KinesisClient, PutRecordsCommand } from "@aws-sdk/client-kinesis";
import kinesalite from "kinesalite";
import mqtt from "mqtt";
import { unpack } from "../../agent/consume/deagg.js";
import { deliver } from "../../agent/pipeline/deliver.js";
import { Shipper } from "../../agent/pipeline/shipper.js";
import { contentId } from "../../agent/record/ids.js";
import { type CanonicalRecord, encodeRecord, type OutRecord } from "../../agent/record/record.js";
import { createKinesisClient, listAllShards } from "../../agent/sinks/kinesis/client.js";
import { kinesisSinkSchema } from "../../agent/sinks/kinesis/config.js";
import { createKinesisSink } from "../../agent/sinks/kinesis/index.js";
import { openSpool } from "../../agent/spool/index.js";
import { silentLogger } from "../../agent/telemetry/logger.js";
import { Telemetry } from "../../agent/telemetry/telemetry.js";
import type { Bench, BenchRow } from "./types.js";

/**
 * Kinesis shipping against an in-process kinesalite: user records/s with KPL aggregation vs one
 * Kinesis record per reading (same sink, same data), vs raw PutRecords of the same readings with
 * no agent (kinesalite's own rate), the same two with the per-shard limits AWS enforces, and
 * publish → PutRecords-ack latency through the whole agent (`edgespool run`) at 1,000 readings/s.
 */

const CREDS = { accessKeyId: "bench", secretAccessKey: "bench" };
const T0 = Date.UTC(2026, 10, 22);

function records(n: number, first = 1): OutRecord[] {
  return Array.from({ length: n }, (_, i) => {
    const seq = first + i;
    const sensor = `room-${seq % 50}/t1`;
    const ts = new Date(T0 + seq * 10).toISOString();
    const rec = {
      id: `r${seq.toString(36).padStart(21, "0")}`,
      sensor,
      ts,
      temperature: 20 + (seq % 100) / 10,
    };
    const full: CanonicalRecord = { ...rec, humidity: 41, source: "bench", agent: "bench", seq, rx: ts };
    const body = encodeRecord(full);
    return { seq, id: rec.id, sensor, tsMs: T0 + seq * 10, rxMs: T0 + seq * 10, body };
  });
}

async function startKinesalite(): Promise<{ endpoint: string; close: () => Promise<void> }> {
  const server = kinesalite({ createStreamMs: 0, updateStreamMs: 0, shardLimit: 100 });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    endpoint,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

async function newStream(c: KinesisClient, name: string, shards: number): Promise<void> {
  await c.send(new CreateStreamCommand({ StreamName: name, ShardCount: shards }));
  await new Promise((r) => setTimeout(r, 20));
}

/**
 * User records/s through the sink and the shipping loop's `deliver`, in batches of the sink's
 * default size. `warmup` records go first, unmeasured: with shard limits on, they spend the
 * one-second burst the budget starts with, so the figure is the steady rate.
 */
async function shipRate(
  endpoint: string,
  stream: string,
  data: OutRecord[],
  extra: Record<string, unknown>,
  warmup = 0,
): Promise<number> {
  const cfg = kinesisSinkSchema.parse({
    type: "kinesis",
    id: "bench",
    stream,
    endpoint,
    region: "us-east-1",
    ...CREDS,
    ...extra,
  });
  const telemetry = new Telemetry(silentLogger());
  const sink = createKinesisSink(cfg, {
    agentId: "bench",
    dataDir: tmpdir(),
    log: silentLogger(),
    telemetry,
  });
  await sink.start();
  const retry = { initialMs: 50, maxMs: 1000, multiplier: 2, maxAttempts: 0 };
  const shipAll = async (part: OutRecord[]) => {
    for (let i = 0; i < part.length; i += cfg.maxBatchRecords) {
      await deliver(
        sink,
        part.slice(i, i + cfg.maxBatchRecords),
        retry,
        telemetry,
        new AbortController().signal,
      );
    }
  };
  await shipAll(data.slice(0, warmup));
  const t = performance.now();
  await shipAll(data.slice(warmup));
  const secs = (performance.now() - t) / 1000;
  await sink.close();
  return (data.length - warmup) / secs;
}

/** Kinesalite's own rate: the same readings as pre-built PutRecords calls of 500, sent one after another. */
async function rawRate(c: KinesisClient, stream: string, data: OutRecord[]): Promise<number> {
  const calls: PutRecordsCommand[] = [];
  for (let i = 0; i < data.length; i += 500) {
    const Records = data
      .slice(i, i + 500)
      .map((r) => ({ PartitionKey: r.sensor, Data: Buffer.from(r.body) }));
    calls.push(new PutRecordsCommand({ StreamName: stream, Records }));
  }
  const t = performance.now();
  for (const cmd of calls) await c.send(cmd);
  return data.length / ((performance.now() - t) / 1000);
}

function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createNetServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => res(port));
    });
  });
}

/** Forwards to kinesalite and notes when each reading's PutRecords was answered (its ack). */
async function ackObserver(target: string, acks: Map<string, number>) {
  const up = new URL(target);
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const fwd = request(
        { host: up.hostname, port: up.port, method: req.method, path: req.url, headers: req.headers },
        (ur) => {
          const out: Buffer[] = [];
          ur.on("data", (c: Buffer) => out.push(c));
          ur.on("end", () => {
            const answer = Buffer.concat(out);
            res.writeHead(ur.statusCode ?? 500, ur.headers).end(answer);
            if (!String(req.headers["x-amz-target"]).endsWith(".PutRecords") || ur.statusCode !== 200) return;
            const now = performance.now();
            const sent = JSON.parse(body.toString()) as { Records: { Data: string; PartitionKey: string }[] };
            const got = JSON.parse(answer.toString()) as { Records: { ErrorCode?: string }[] };
            sent.Records.forEach((r, i) => {
              if (got.Records[i]?.ErrorCode) return;
              const u = unpack(Buffer.from(r.Data, "base64"), r.PartitionKey, { start: 0n, end: 2n ** 128n });
              if (u.kind !== "ok") return;
              for (const x of u.users) {
                const id = (JSON.parse(x.data.toString()) as { id: string }).id;
                if (!acks.has(id)) acks.set(id, now);
              }
            });
          });
        },
      );
      fwd.on("error", () => res.destroy());
      fwd.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/**
 * kinesalite in its own process for the latency run: in this process its CPU bursts (decoding
 * each PutRecords) would stall the publisher's event loop and count as agent latency.
 */
async function spawnKinesalite(): Promise<{ endpoint: string; stop: () => Promise<void> }> {
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
async function endToEnd(
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
 * `idlePollMs` is how long the loop sleeps when it found the spool empty (the runtime's default
 * is 1 s and only a full batch wakes it early).
 */
async function loopLatency(endpoint: string, seconds: number, rate: number, idlePollMs: number) {
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
  const shipper = new Shipper(spool, sink, cfg, [], telemetry, { idlePollMs });
  shipper.start();
  const appended = new Map<string, number>();
  const start = performance.now();
  let sent = 0;
  while (performance.now() - start < seconds * 1000) {
    const due = Math.floor(((performance.now() - start) / 1000) * rate);
    const batch = [];
    for (; sent < due; sent++) {
      const rx = new Date().toISOString();
      const id = `L${idlePollMs}-${sent}`;
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
      shipper.notify(batch.length);
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

export const run: Bench = async ({ quick }) => {
  const k = await startKinesalite();
  const c = createKinesisClient({ endpoint: k.endpoint, region: "us-east-1", ...CREDS });
  const rows: BenchRow[] = [];
  try {
    const n = quick ? 10_000 : 100_000;
    const data = records(n);
    for (const s of ["agg", "single", "raw", "agg-limited", "single-limited", "loop"])
      await newStream(c, s, 1);
    await listAllShards(c, "agg");
    const unlimited = { shardLimits: { enabled: false } };
    const agg = await shipRate(k.endpoint, "agg", data, unlimited);
    const single = await shipRate(k.endpoint, "single", data, { ...unlimited, aggregation: false });
    const raw = await rawRate(c, "raw", data);
    rows.push(
      {
        name: "kinesis: aggregated shipping (user records/s)",
        value: agg,
        unit: "records/s",
        baselineName: "same sink, aggregation=false",
        baseline: single,
        ratio: agg / single,
        target: ">= 5",
        note: "1 shard, no shard limits (kinesalite has none)",
      },
      {
        name: "kinesis: aggregated shipping vs raw PutRecords",
        value: agg,
        unit: "records/s",
        baselineName: "raw PutRecords x500, no agent",
        baseline: raw,
        ratio: agg / raw,
        target: "report",
      },
      {
        name: "kinesis: single-record shipping vs raw PutRecords",
        value: single,
        unit: "records/s",
        baselineName: "raw PutRecords x500, no agent",
        baseline: raw,
        ratio: single / raw,
        target: "report",
      },
    );
    // AWS's per-shard limits scaled to 1/10 (100 records/s, 100 KiB/s): the one-second burst a
    // budget starts with is spent in the warm-up, so a quick run shows the steady ratio.
    // ~190-byte readings: aggregated ~540/s (bytes-bound), single records 100/s (count-bound).
    const secs = quick ? 3 : 10;
    const scaled = { shardLimits: { recordsPerSecond: 100, bytesPerSecond: "100KiB" } };
    const aggLim = await shipRate(k.endpoint, "agg-limited", data.slice(0, 600 + secs * 540), scaled, 600);
    const singleLim = await shipRate(
      k.endpoint,
      "single-limited",
      data.slice(0, 100 + secs * 100),
      { ...scaled, aggregation: false },
      100,
    );
    rows.push({
      name: "kinesis: within shard limits (1/10 of AWS's), aggregated",
      value: aggLim,
      unit: "records/s",
      baselineName: "aggregation=false (record-count bound)",
      baseline: singleLim,
      ratio: aggLim / singleLim,
      target: ">= 5",
      note: "x10 for AWS's 1,000 records/s and 1 MiB/s per shard",
    });
    for (const idle of [1000, 50]) {
      const l = await loopLatency(k.endpoint, quick ? 4 : 20, 1000, idle);
      rows.push({
        name: `kinesis: spool append -> PutRecords ack p99, loop idle poll ${idle} ms`,
        value: l.p99,
        unit: "ms",
        target: "<= 1000",
        note: `p50 ${Math.round(l.p50)} ms; Shipper + sink in-process, 1000/s, default batching, ${l.n} readings`,
      });
    }
    const remote = await spawnKinesalite();
    const lat = await endToEnd(remote.endpoint, quick ? 7 : 30, 1000).finally(remote.stop);
    rows.push(
      {
        name: "kinesis: publish -> PutRecords ack p50",
        value: lat.p50,
        unit: "ms",
        target: "report",
        note: `1000 readings/s, default batching, ${lat.n} readings`,
      },
      {
        name: "kinesis: publish -> PutRecords ack p99",
        value: lat.p99,
        unit: "ms",
        target: "<= 1000",
        note: "whole agent (edgespool run), QoS1 MQTT in",
      },
      {
        name: "kinesis: publish -> PUBACK (spool commit) p99, same run",
        value: lat.pubackP99,
        unit: "ms",
        target: "report",
        note: "the ingest side's share of the end-to-end latency",
      },
    );
  } finally {
    c.destroy();
    await k.close();
  }
  return rows;
};
