import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  type AttributeValue,
  BatchWriteItemCommand,
  type DynamoDBClient,
  PutItemCommand,
} from "@aws-sdk/client-dynamodb";
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
} from "@aws-sdk/client-kinesis";
import dynalite from "dynalite";
import kinesalite from "kinesalite";
import { createDynamoClient, ensureTable, item } from "../../agent/consume/dynamo.js";
import { LeaseTable, TRIM_HORIZON } from "../../agent/consume/leases.js";
import { encodeRecord, type OutRecord } from "../../agent/record/record.js";
import { createKinesisClient, listAllShards } from "../../agent/sinks/kinesis/client.js";
import { kinesisSinkSchema } from "../../agent/sinks/kinesis/config.js";
import { createKinesisSink } from "../../agent/sinks/kinesis/index.js";
import { silentLogger } from "../../agent/telemetry/logger.js";
import { Telemetry } from "../../agent/telemetry/telemetry.js";
import type { Bench, BenchRow } from "./types.js";

/**
 * `edgespool consume --table` throughput with 1, 2 and 3 lease-sharing workers (child processes,
 * as deployed) reading a 4-shard kinesalite stream into dynalite, beside raw loops writing the
 * same items into dynalite from this process in the same run: BatchWriteItem (25 items a call,
 * no conditions: dynalite's ceiling) and conditional PutItem (what the consumer does).
 * kinesalite and dynalite run in this process; the workers' leases are laid out evenly before
 * they start, so the figure is reading and writing, not balancing.
 */

const CREDS = { accessKeyId: "bench", secretAccessKey: "bench-secret", region: "us-east-1" };
const STREAM = "bench-consume";
const SHARDS = 4;
const T0 = Date.UTC(2026, 10, 22);

/** Canonical readings as the spool hands them to a sink (also used by the Firehose bench). */
export function readings(n: number): OutRecord[] {
  return Array.from({ length: n }, (_, i) => {
    const ts = new Date(T0 + i * 10).toISOString();
    const rec = {
      id: `b${i.toString(36).padStart(12, "0")}`,
      sensor: `room-${i % 200}/t1`,
      ts,
      temperature: 20 + (i % 300) / 10,
      source: "bench",
      agent: "pi-bench",
      seq: i,
      rx: ts,
    };
    return {
      seq: i + 1,
      id: rec.id,
      sensor: rec.sensor,
      tsMs: T0 + i * 10,
      rxMs: T0 + i * 10,
      body: encodeRecord(rec),
    };
  });
}

async function listen(server: import("node:http").Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Each shard's last sequence number: a worker is done when its lease checkpoint reaches it. */
async function lastSequences(k: ReturnType<typeof createKinesisClient>): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const s of await listAllShards(k, STREAM)) {
    let it = (
      await k.send(
        new GetShardIteratorCommand({
          StreamName: STREAM,
          ShardId: s.ShardId!,
          ShardIteratorType: "TRIM_HORIZON",
        }),
      )
    ).ShardIterator;
    while (it) {
      const res = await k.send(new GetRecordsCommand({ ShardIterator: it, Limit: 10_000 }));
      const last = res.Records?.at(-1)?.SequenceNumber;
      if (last) out.set(s.ShardId!, last);
      if ((res.Records ?? []).length === 0) break;
      it = res.NextShardIterator;
    }
  }
  return out;
}

async function workersRun(
  n: number,
  endpoints: { kinesis: string; dynamo: string },
  ddb: DynamoDBClient,
  last: Map<string, string>,
): Promise<number> {
  const app = `bench-app-${n}`;
  const leases = new LeaseTable(ddb, app);
  await leases.ensure();
  const shards = [...last.keys()].sort();
  for (const id of shards) await leases.create(id, [], TRIM_HORIZON);
  // Lay the leases out evenly, as balancing would end up: each worker takes its own at start.
  const listed = await leases.list();
  for (const [i, l] of listed.entries()) await leases.take(l, `w${i % n}`);
  const cli = join(dirname(fileURLToPath(import.meta.url)), "../../agent/cli/main.js");
  const dir = mkdtempSync(join(tmpdir(), "edgespool-bench-consume-"));
  const children = Array.from({ length: n }, (_, i) =>
    spawn(
      process.execPath,
      [
        cli,
        "consume",
        ...["--stream", STREAM, "--endpoint", endpoints.kinesis, "--region", CREDS.region],
        ...["--table", `bench-readings-${n}`, "--dynamodb-endpoint", endpoints.dynamo],
        ...["--app", app, "--worker", `w${i}`, "--lease-ms", "5000", "--db", join(dir, `w${i}.db`)],
      ],
      {
        env: {
          ...process.env,
          AWS_ACCESS_KEY_ID: CREDS.accessKeyId,
          AWS_SECRET_ACCESS_KEY: CREDS.secretAccessKey,
          EDGESPOOL_LOG_LEVEL: "warn",
        },
        stdio: "ignore",
      },
    ),
  );
  try {
    // From the first lease a worker touched (after its start-up) to every checkpoint at the end.
    let started = 0;
    for (;;) {
      const now = await leases.list();
      if (!started && now.some((l, i) => l.leaseCounter > listed[i]!.leaseCounter + 1)) started = Date.now();
      if (now.every((l) => l.checkpoint === last.get(l.leaseKey)))
        return Date.now() - (started || Date.now());
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    for (const c of children) c.kill("SIGTERM");
    await Promise.all(
      children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once("exit", r)))),
    );
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Writes every item with `send` from `concurrency` loops; returns ms. */
async function rawLoop<T>(units: T[], concurrency: number, send: (u: T) => Promise<void>): Promise<number> {
  const t = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < units.length) await send(units[next++]!);
    }),
  );
  return performance.now() - t;
}

export const run: Bench = async ({ quick }) => {
  // dynalite stores a few hundred items a second: enough readings for steady state, not more.
  const N = quick ? 1500 : 6000;
  const kServer = kinesalite({ createStreamMs: 0, updateStreamMs: 0, shardLimit: 100 });
  const dServer = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  const endpoints = { kinesis: await listen(kServer), dynamo: await listen(dServer) };
  const kc = createKinesisClient({ ...CREDS, endpoint: endpoints.kinesis });
  const ddb = createDynamoClient({ ...CREDS, endpoint: endpoints.dynamo });
  const rows: BenchRow[] = [];
  try {
    await kc.send(new CreateStreamCommand({ StreamName: STREAM, ShardCount: SHARDS }));
    while (
      (await kc.send(new DescribeStreamSummaryCommand({ StreamName: STREAM }))).StreamDescriptionSummary
        ?.StreamStatus !== "ACTIVE"
    )
      await new Promise((r) => setTimeout(r, 20));
    const batch = readings(N);
    const log = silentLogger();
    const sink = createKinesisSink(
      kinesisSinkSchema.parse({
        type: "kinesis",
        id: "k",
        stream: STREAM,
        endpoint: endpoints.kinesis,
        ...CREDS,
        shardLimits: { enabled: false },
      }),
      { agentId: "bench", dataDir: tmpdir(), log, telemetry: new Telemetry(log) },
    );
    for (let i = 0; i < N; i += 2000) {
      const res = await sink.write(batch.slice(i, i + 2000), new AbortController().signal);
      if (res.retry?.length || res.rejected?.length) throw new Error("filling the stream failed");
    }
    await sink.close();
    const last = await lastSequences(kc);

    const items = batch.map((r, i) =>
      item(
        {
          id: r.id,
          sensor: r.sensor,
          ts: null,
          temperature: 20 + (i % 300) / 10,
          humidity: null,
          seq: i,
          body: r.body,
        },
        "shardId-0",
      ),
    );
    await ensureTable(ddb, "raw-batch", "id");
    const chunks: Record<string, AttributeValue>[][] = [];
    for (let i = 0; i < items.length; i += 25) chunks.push(items.slice(i, i + 25));
    const batchMs = await rawLoop(chunks, 4, async (c) => {
      let req: Record<string, { PutRequest: { Item: Record<string, AttributeValue> } }[]> | undefined = {
        "raw-batch": c.map((Item) => ({ PutRequest: { Item } })),
      };
      while (req && Object.keys(req).length > 0) {
        const res = await ddb.send(new BatchWriteItemCommand({ RequestItems: req }));
        req = res.UnprocessedItems as typeof req;
      }
    });
    const batchRate = (N * 1000) / batchMs;
    await ensureTable(ddb, "raw-put", "id");
    const putMs = await rawLoop(items, 16, async (Item) => {
      await ddb.send(
        new PutItemCommand({ TableName: "raw-put", Item, ConditionExpression: "attribute_not_exists(id)" }),
      );
    });
    const putRate = (N * 1000) / putMs;
    rows.push({
      name: "raw conditional PutItem loop, 16 in flight (readings/s)",
      value: putRate,
      unit: "items/s",
      baselineName: "raw BatchWriteItem, 25 a call, 4 in flight",
      baseline: batchRate,
      ratio: putRate / batchRate,
      note: `${N} items into dynalite`,
    });
    for (const n of [1, 2, 3]) {
      const ms = await workersRun(n, endpoints, ddb, last);
      const rate = (N * 1000) / ms;
      rows.push({
        name: `consume --table with ${n} worker${n > 1 ? "s" : ""} (readings/s)`,
        value: rate,
        unit: "readings/s",
        baselineName: "raw BatchWriteItem, 25 a call, 4 in flight",
        baseline: batchRate,
        ratio: rate / batchRate,
        note: `${N} readings, ${SHARDS} shards, kinesalite + dynalite in the bench process, 2 cores`,
      });
    }
  } finally {
    kc.destroy();
    ddb.destroy();
    kServer.closeAllConnections();
    dServer.closeAllConnections();
    await Promise.all([new Promise((r) => kServer.close(r)), new Promise((r) => dServer.close(r))]);
  }
  return rows;
};
