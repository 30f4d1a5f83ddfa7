import { join } from "node:path";
import { PutRecordsCommand } from "@aws-sdk/client-kinesis";
import { describe, expect, it, vi } from "vitest";
import { consumeCommand } from "../../agent/consume/command.js";
import { consumeStream } from "../../agent/consume/consumer.js";
import { consumeEnv } from "./consume-env.js";
import { clientWithStream, consumedRows, CREDS, makeRecords } from "./helpers.js";

const local = consumeEnv();
const { put, opts } = local;

describe("edgespool consume", () => {
  it("resumes from its per-shard checkpoints after a restart", async () => {
    const stream = "resume";
    const c = await clientWithStream(local.k.endpoint, stream, 2);
    const db = join(local.dir, "c.db");
    await put(stream, makeRecords(500, 9));
    const first = await consumeStream(opts(stream, db));
    expect(first.stored).toBe(500);
    await put(stream, makeRecords(300, 9, 501));
    const second = await consumeStream(opts(stream, db));
    // Only the new records were read: nothing before the checkpoints came back.
    expect(second.userRecords).toBe(300);
    expect(second.stored).toBe(300);
    expect(second.duplicates).toBe(0);
    expect(consumedRows(db).length).toBe(800);
    c.destroy();
  });

  it("stores a record delivered twice once, and counts the duplicate", async () => {
    const stream = "twice";
    const c = await clientWithStream(local.k.endpoint, stream, 1);
    const batch = makeRecords(200, 4);
    await put(stream, batch);
    await put(stream, batch.slice(50, 150), { aggregation: false });
    const db = join(local.dir, "c.db");
    const stats = await consumeStream(opts(stream, db));
    expect(stats).toMatchObject({ userRecords: 300, stored: 200, duplicates: 100 });
    expect(consumedRows(db).map((r) => r.id)).toEqual(batch.map((r) => r.id));
    c.destroy();
  });

  it("--filter keeps only matching readings (the tutorial's temperature >= 35)", async () => {
    const stream = "hot";
    const c = await clientWithStream(local.k.endpoint, stream, 2);
    const batch = makeRecords(400, 5);
    await put(stream, batch);
    const db = join(local.dir, "c.db");
    const stats = await consumeStream({ ...opts(stream, db), filter: "temperature >= 35" });
    const hot = batch.filter((r) => (JSON.parse(r.body) as { temperature: number }).temperature >= 35);
    expect(hot.length).toBeGreaterThan(0);
    expect(hot.length).toBeLessThan(batch.length);
    expect(stats.filtered).toBe(batch.length - hot.length);
    const rows = consumedRows(db);
    expect(rows.map((r) => r.id).sort()).toEqual(hot.map((r) => r.id).sort());
    expect(rows.every((r) => r.temperature >= 35)).toBe(true);
    c.destroy();
  });

  it("counts records that are not edgespool readings and keeps going", async () => {
    const stream = "junk";
    const c = await clientWithStream(local.k.endpoint, stream, 1);
    await c.send(
      new PutRecordsCommand({
        StreamName: stream,
        Records: [
          { PartitionKey: "x", Data: Buffer.from("not json") },
          {
            PartitionKey: "x",
            Data: Buffer.from([0xf3, 0x89, 0x9a, 0xc2, 1, 2, 3, ...new Array(16).fill(0)]),
          },
          { PartitionKey: "x", Data: Buffer.from('{"no":"id"}') },
        ],
      }),
    );
    await put(stream, makeRecords(10, 2));
    const db = join(local.dir, "c.db");
    const stats = await consumeStream(opts(stream, db));
    expect(stats.invalid).toBe(3);
    expect(stats.stored).toBe(10);
    c.destroy();
  });

  it("--from latest skips what was in the stream before the first start", async () => {
    const stream = "latest";
    const c = await clientWithStream(local.k.endpoint, stream, 2);
    await put(stream, makeRecords(100, 3));
    const db = join(local.dir, "c.db");
    const ctl = new AbortController();
    const running = consumeStream({
      ...opts(stream, db),
      from: "latest",
      follow: true,
      pollMs: 20,
      signal: ctl.signal,
    });
    await new Promise((r) => setTimeout(r, 300));
    const fresh = makeRecords(50, 3, 1001);
    await put(stream, fresh);
    await vi.waitFor(() => expect(consumedRows(db).length).toBe(50), { timeout: 5000, interval: 50 });
    ctl.abort();
    const stats = await running;
    expect(stats.stored).toBe(50);
    expect(
      consumedRows(db)
        .map((r) => r.id)
        .sort(),
    ).toEqual(fresh.map((r) => r.id).sort());
    c.destroy();
  });

  it("the `consume` command reads the stream with --until-idle and prints its counts", async () => {
    const stream = "cli";
    const c = await clientWithStream(local.k.endpoint, stream, 1);
    await put(stream, makeRecords(40, 2));
    const db = join(local.dir, "c.db");
    const env = { ...process.env };
    process.env.AWS_ACCESS_KEY_ID = CREDS.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = CREDS.secretAccessKey;
    process.env.EDGESPOOL_LOG_LEVEL = "silent";
    const out = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    try {
      await consumeCommand().parseAsync(
        [
          "--stream",
          stream,
          "--endpoint",
          local.k.endpoint,
          "--region",
          "us-east-1",
          "--db",
          db,
          "--until-idle",
          "300",
        ],
        { from: "user" },
      );
      const printed = out.mock.calls.map((a) => String(a[0])).join("");
      expect(JSON.parse(printed)).toMatchObject({ stored: 40 });
    } finally {
      out.mockRestore();
      process.env = env;
    }
    expect(consumedRows(db).length).toBe(40);
    c.destroy();
  });

  it("the `consume` command refuses a bad filter with the reason", async () => {
    const cmd = consumeCommand()
      .exitOverride()
      .configureOutput({ writeErr: () => {} });
    await expect(
      cmd.parseAsync(["--stream", "s", "--filter", "temperature >=", "--db", join(local.dir, "x.db")], {
        from: "user",
      }),
    ).rejects.toThrow(/invalid filter/);
  });
});
