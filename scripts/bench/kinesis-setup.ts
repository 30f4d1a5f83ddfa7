import { createServer, type IncomingMessage, request, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { CreateStreamCommand, type KinesisClient, PutRecordsCommand } from "@aws-sdk/client-kinesis";
import kinesalite from "kinesalite";
import { unpack } from "../../agent/consume/deagg.js";
import { deliver } from "../../agent/pipeline/deliver.js";
import { type CanonicalRecord, encodeRecord, type OutRecord } from "../../agent/record/record.js";
import { kinesisSinkSchema } from "../../agent/sinks/kinesis/config.js";
import { createKinesisSink } from "../../agent/sinks/kinesis/index.js";
import { silentLogger } from "../../agent/telemetry/logger.js";
import { Telemetry } from "../../agent/telemetry/telemetry.js";

/** The Kinesis bench's parts: kinesalite in process, its readings, throughput runs, an ack observer. */

export const CREDS = { accessKeyId: "bench", secretAccessKey: "bench" };
const T0 = Date.UTC(2026, 10, 22);

export function records(n: number, first = 1): OutRecord[] {
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

export async function startKinesalite(): Promise<{ endpoint: string; close: () => Promise<void> }> {
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

export async function newStream(c: KinesisClient, name: string, shards: number): Promise<void> {
  await c.send(new CreateStreamCommand({ StreamName: name, ShardCount: shards }));
  await new Promise((r) => setTimeout(r, 20));
}

/**
 * User records/s through the sink and the shipping loop's `deliver`, in batches of the sink's
 * default size. `warmup` records go first, unmeasured: with shard limits on, they spend the
 * one-second burst the budget starts with, so the figure is the steady rate.
 */
export async function shipRate(
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
export async function rawRate(c: KinesisClient, stream: string, data: OutRecord[]): Promise<number> {
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

/** Forwards to kinesalite and notes when each reading's PutRecords was answered (its ack). */
export async function ackObserver(target: string, acks: Map<string, number>) {
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
