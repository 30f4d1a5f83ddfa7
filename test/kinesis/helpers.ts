import type { AddressInfo } from "node:net";
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
  type Shard,
} from "@aws-sdk/client-kinesis";
import { deaggregateSync } from "aws-kinesis-agg";
import Database from "better-sqlite3";
import kinesalite from "kinesalite";
import { type DeliveryOutcome, deliver } from "../../agent/pipeline/deliver.js";
import { encodeRecord, type OutRecord } from "../../agent/record/record.js";
import { createKinesisClient, listAllShards } from "../../agent/sinks/kinesis/client.js";
import { type KinesisSinkConfig, kinesisSinkSchema } from "../../agent/sinks/kinesis/config.js";
import { createKinesisSink } from "../../agent/sinks/kinesis/index.js";
import type { Sink, SinkContext } from "../../agent/sinks/sink.js";
import { silentLogger } from "../../agent/telemetry/logger.js";
import { Telemetry } from "../../agent/telemetry/telemetry.js";
import { tempDir as baseTempDir } from "../helpers/basics.js";

export const CREDS = { accessKeyId: "local", secretAccessKey: "local-secret" };

export interface Kinesalite {
  endpoint: string;
  port: number;
  close(): Promise<void>;
}

/** A real kinesalite in this process, in memory, on 127.0.0.1 and a free port. */
export async function startKinesalite(opts: { updateStreamMs?: number } = {}): Promise<Kinesalite> {
  const server = kinesalite({
    createStreamMs: 0,
    deleteStreamMs: 0,
    updateStreamMs: opts.updateStreamMs ?? 0,
    shardLimit: 100,
  });
  await new Promise<void>((res) => server.listen(0, "127.0.0.1", () => res()));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((res) => {
        server.closeAllConnections();
        server.close(() => res());
      }),
  };
}

export function client(endpoint: string): KinesisClient {
  return createKinesisClient({ endpoint, region: "us-east-1", ...CREDS });
}

export async function waitActive(c: KinesisClient, stream: string, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const d = await c.send(new DescribeStreamSummaryCommand({ StreamName: stream }));
    if (d.StreamDescriptionSummary?.StreamStatus === "ACTIVE") return;
    if (Date.now() > until) throw new Error(`stream ${stream} not ACTIVE`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function createStream(c: KinesisClient, stream: string, shards: number): Promise<void> {
  await c.send(new CreateStreamCommand({ StreamName: stream, ShardCount: shards }));
  await waitActive(c, stream);
}

/** A client for `endpoint` with `stream` already created (`shards` shards) and ACTIVE; the caller destroys it. */
export async function clientWithStream(
  endpoint: string,
  stream: string,
  shards: number,
): Promise<KinesisClient> {
  const c = client(endpoint);
  await createStream(c, stream, shards);
  return c;
}

/** Canonical records as the spool hands them to a sink: `sensors` sensors, interleaved, seq from `firstSeq`. */
export function makeRecords(n: number, sensors = 8, firstSeq = 1, pad = 0): OutRecord[] {
  const out: OutRecord[] = [];
  const t0 = Date.parse("2026-11-22T01:00:00.000Z");
  for (let i = 0; i < n; i++) {
    const seq = firstSeq + i;
    const sensor = `room-${seq % sensors}/t1`;
    const ts = new Date(t0 + seq * 100).toISOString();
    const attrs = pad > 0 ? { pad: "x".repeat(pad) } : undefined;
    const rec = {
      id: `r${seq.toString(36).padStart(10, "0")}`,
      sensor,
      ts,
      temperature: 20 + (seq % 200) / 10,
      humidity: 40 + (seq % 30),
      source: "test",
      agent: "test-agent",
      seq,
      rx: ts,
      ...(attrs ? { attrs } : {}),
    };
    out.push({
      seq,
      id: rec.id,
      sensor,
      tsMs: t0 + seq * 100,
      rxMs: t0 + seq * 100,
      body: encodeRecord(rec),
    });
  }
  return out;
}

export function sinkConfig(
  stream: string,
  endpoint: string,
  extra: Record<string, unknown> = {},
): KinesisSinkConfig {
  return kinesisSinkSchema.parse({
    type: "kinesis",
    id: "kin",
    stream,
    endpoint,
    region: "us-east-1",
    ...CREDS,
    ...extra,
  });
}

/** Ships `records` to `stream` with a fresh Kinesis sink, and fails the test unless all were accepted. */
export async function putAll(
  endpoint: string,
  stream: string,
  records: readonly OutRecord[],
  extra: Record<string, unknown> = {},
): Promise<void> {
  const sink = createKinesisSink(sinkConfig(stream, endpoint, extra), sinkContext());
  await sink.start();
  const res = await sink.write(records, new AbortController().signal);
  await sink.close();
  if (res.retry?.length || res.rejected?.length) throw new Error(`put to ${stream}: ${JSON.stringify(res)}`);
}

export function sinkContext(): SinkContext {
  const log = silentLogger();
  return { agentId: "test-agent", dataDir: "/nonexistent", log, telemetry: new Telemetry(log) };
}

export interface ReadBack {
  shardId: string;
  start: bigint;
  end: bigint;
  /** Kinesis records in the shard, in order. */
  kinesisRecords: number;
  /** User records after de-aggregation with aws-kinesis-agg. */
  users: { partitionKey: string; explicitHashKey?: string; data: string; raw: Buffer }[];
}

/** Reads every shard from TRIM_HORIZON to its current end and de-aggregates with aws-kinesis-agg. */
export async function readBack(c: KinesisClient, stream: string): Promise<ReadBack[]> {
  const shards: Shard[] = await listAllShards(c, stream);
  const out: ReadBack[] = [];
  for (const s of shards) {
    const it = await c.send(
      new GetShardIteratorCommand({
        StreamName: stream,
        ShardId: s.ShardId!,
        ShardIteratorType: "TRIM_HORIZON",
      }),
    );
    let iterator = it.ShardIterator;
    const rb: ReadBack = {
      shardId: s.ShardId!,
      start: BigInt(s.HashKeyRange!.StartingHashKey!),
      end: BigInt(s.HashKeyRange!.EndingHashKey!),
      kinesisRecords: 0,
      users: [],
    };
    while (iterator) {
      const res = await c.send(new GetRecordsCommand({ ShardIterator: iterator }));
      for (const r of res.Records ?? []) {
        rb.kinesisRecords++;
        rb.users.push(...deaggregate(r.Data!, r.PartitionKey!));
      }
      if ((res.Records ?? []).length === 0) break;
      iterator = res.NextShardIterator;
    }
    out.push(rb);
  }
  return out;
}

/** The independent decoder: aws-kinesis-agg, with MD5 checks on. */
export function deaggregate(data: Uint8Array, partitionKey: string): ReadBack["users"] {
  let result: ReadBack["users"] = [];
  let failure: Error | undefined;
  deaggregateSync(
    { Data: Buffer.from(data).toString("base64"), PartitionKey: partitionKey } as never,
    true,
    (err, recs) => {
      if (err) failure = err;
      else
        result = (recs ?? []).map((u) => {
          const v3 = u as unknown as Record<string, string | undefined>;
          const raw = Buffer.from(v3.Data!, "base64");
          return {
            partitionKey: v3.PartitionKey!,
            ...(v3.ExplicitPartitionKey ? { explicitHashKey: v3.ExplicitPartitionKey } : {}),
            data: raw.toString("utf8"),
            raw,
          };
        });
    },
  );
  if (failure) throw failure;
  return result;
}

const FAST_RETRY = { initialMs: 10, maxMs: 200, multiplier: 2, maxAttempts: 0 };

/** Ships a batch the way the agent does (the shipping loop's `deliver`): retries until settled. */
export async function ship(
  sink: Sink,
  batch: readonly OutRecord[],
  telemetry: Telemetry,
): Promise<DeliveryOutcome> {
  const out = await deliver(sink, batch, FAST_RETRY, telemetry, new AbortController().signal);
  if (!out.complete) throw new Error("delivery did not complete");
  return out;
}

export interface ConsumedRow {
  id: string;
  sensor: string;
  seq: number;
  temperature: number;
}

/** The consumer's table in storage order. */
export function consumedRows(file: string): ConsumedRow[] {
  const db = new Database(file, { readonly: true });
  try {
    return db
      .prepare("SELECT id, sensor, seq, temperature FROM readings ORDER BY rowid")
      .all() as ConsumedRow[];
  } finally {
    db.close();
  }
}

/** Per-sensor seq never goes backwards in storage order; returns the sensors where it did. */
export function orderViolations(rows: readonly ConsumedRow[]): string[] {
  const last = new Map<string, number>();
  const bad = new Set<string>();
  for (const r of rows) {
    if (r.seq <= (last.get(r.sensor) ?? 0)) bad.add(r.sensor);
    last.set(r.sensor, r.seq);
  }
  return [...bad];
}

export function tempDir(): string {
  return baseTempDir("edgespool-kinesis-");
}
