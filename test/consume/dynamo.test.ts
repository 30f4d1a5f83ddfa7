import { join } from "node:path";
import { GetItemCommand } from "@aws-sdk/client-dynamodb";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { consumeStream } from "../../agent/consume/consumer.js";
import { type Lease, LeaseTable } from "../../agent/consume/leases.js";
import { consumeEnv } from "../kinesis/consume-env.js";
import { startProxy } from "../kinesis/fault-proxy.js";
import { clientWithStream, makeRecords } from "../kinesis/helpers.js";
import { ddbClient, type Dynalite, startDynalite, tableIds } from "./helpers.js";

const local = consumeEnv();
const { put, opts } = local;
let d: Dynalite;
beforeAll(async () => {
  d = await startDynalite();
});
afterAll(async () => {
  await d?.close();
});

const temperature = (r: { body: string }) => (JSON.parse(r.body) as { temperature: number }).temperature;

describe("consume --table (DynamoDB destination)", () => {
  it("creates the table and stores each kept reading once, however often it is delivered", async () => {
    const stream = "ddb-once";
    const c = await clientWithStream(local.k.endpoint, stream, 2);
    const batch = makeRecords(400, 6);
    await put(stream, batch);
    // The same readings again, unaggregated: what a producer retry or a reshard copy looks like.
    await put(stream, batch.slice(100, 250), { aggregation: false });
    const cfg = {
      ...opts(stream, join(local.dir, "c.db")),
      table: "hot",
      dynamodbEndpoint: d.endpoint,
      filter: "temperature >= 35",
    };
    const stats = await consumeStream(cfg);
    const hot = batch.filter((r) => temperature(r) >= 35);
    const hotAgain = batch.slice(100, 250).filter((r) => temperature(r) >= 35);
    expect(hot.length).toBeGreaterThan(0);
    expect(stats.stored).toBe(hot.length);
    expect(stats.duplicates).toBe(hotAgain.length);
    const ddb = ddbClient(d.endpoint);
    expect((await tableIds(ddb, "hot")).sort()).toEqual(hot.map((r) => r.id).sort());
    const one = await ddb.send(new GetItemCommand({ TableName: "hot", Key: { id: { S: hot[0]!.id } } }));
    expect(one.Item?.body?.S).toBe(hot[0]!.body);
    expect(Number(one.Item?.temperature?.N)).toBe(temperature(hot[0]!));
    // A second run resumes from its checkpoints (in --db) and finds nothing new.
    const again = await consumeStream(cfg);
    expect(again).toMatchObject({ userRecords: 0, stored: 0 });
    ddb.destroy();
    c.destroy();
  });

  it("backs off and retries puts DynamoDB throttles, storing everything once", async () => {
    const stream = "ddb-throttle";
    const c = await clientWithStream(local.k.endpoint, stream, 1);
    const batch = makeRecords(150, 3);
    await put(stream, batch);
    let throttled = 0;
    let n = 0;
    // Every third PutItem answered as DynamoDB answers a hot partition, without storing it.
    const proxy = await startProxy(d.endpoint, async (call) => {
      const target = String(call.req.headers["x-amz-target"] ?? "");
      if (target.endsWith(".PutItem") && n++ % 3 === 0) {
        throttled++;
        const body = {
          __type: "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
          message: "The level of configured provisioned throughput for the table was exceeded (injected)",
        };
        return call.reply(
          400,
          { "content-type": "application/x-amz-json-1.0" },
          Buffer.from(JSON.stringify(body)),
        );
      }
      const r = await call.forward();
      call.reply(r.status, r.headers, r.body);
    });
    try {
      const stats = await consumeStream({
        ...opts(stream, join(local.dir, "c.db")),
        table: "all",
        dynamodbEndpoint: proxy.endpoint,
      });
      expect(throttled).toBeGreaterThan(10);
      // A page that failed for another reason (a timeout on a loaded machine) is read again:
      // what its first attempt wrote then counts as duplicates. The table is what matters.
      expect(stats.stored + stats.duplicates).toBeGreaterThanOrEqual(batch.length);
      const ddb = ddbClient(d.endpoint);
      expect((await tableIds(ddb, "all")).sort()).toEqual(batch.map((r) => r.id).sort());
      ddb.destroy();
    } finally {
      await proxy.close();
      c.destroy();
    }
  });
});

describe("consume --app (one worker, in this process)", () => {
  it("never moves the checkpoint while its lease is another's, and resumes from it after the failover time", async () => {
    const stream = "fenced";
    const c = await clientWithStream(local.k.endpoint, stream, 1);
    const ctl = new AbortController();
    const running = consumeStream({
      ...opts(stream, join(local.dir, "c.db")),
      table: "fenced-readings",
      dynamodbEndpoint: d.endpoint,
      app: "fenced-app",
      worker: "a",
      leaseMs: 1500,
      pollMs: 20,
      signal: ctl.signal,
    });
    const ddb = ddbClient(d.endpoint);
    const leases = new LeaseTable(ddb, "fenced-app");
    const first = makeRecords(60, 3);
    await put(stream, first);
    await vi.waitFor(async () => expect(await tableIds(ddb, "fenced-readings")).toHaveLength(60), {
      timeout: 15_000,
      interval: 100,
    });
    // Another worker takes the lease (as after a stall); the checkpoint stays where it was.
    // "a" renews while we look: try until the take lands between two of its writes.
    let stolen: Lease | undefined;
    while (!stolen) {
      const [held] = await leases.list();
      expect(held?.leaseOwner).toBe("a");
      stolen = await leases.take(held!, "thief");
    }
    await put(stream, makeRecords(60, 3, 61));
    // The thief never renews: while it still counts as the owner, nothing moves the checkpoint.
    for (let i = 0; i < 8; i++) {
      const [now] = await leases.list();
      if (now?.leaseOwner !== "thief") break;
      expect(now.checkpoint).toBe(stolen.checkpoint);
      await new Promise((r) => setTimeout(r, 100));
    }
    // (What "a" read before it noticed may be in the table already: conditional puts allow that.)
    // After the failover time "a" takes the expired lease back and reads on from the checkpoint.
    await vi.waitFor(async () => expect((await leases.list())[0]?.leaseOwner).toBe("a"), {
      timeout: 20_000,
      interval: 100,
    });
    await put(stream, makeRecords(60, 3, 121));
    await vi.waitFor(async () => expect(await tableIds(ddb, "fenced-readings")).toHaveLength(180), {
      timeout: 20_000,
      interval: 200,
    });
    ctl.abort();
    const stats = await running;
    expect(stats.stored).toBe(180);
    const [after] = await leases.list();
    // Released on a clean stop, checkpoint at the end of the shard's records.
    expect(after?.leaseOwner).toBeUndefined();
    expect(after?.checkpoint).not.toBe(stolen.checkpoint);
    ddb.destroy();
    c.destroy();
  });
});
