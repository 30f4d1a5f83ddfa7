import { afterEach, describe, expect, it, onTestFinished } from "vitest";
import { ACTIVE_SENDER_DELAYS, createIngest, EARLY_COMMIT_RECORDS } from "../../agent/pipeline/ingest.js";
import type { SpoolApi } from "../../agent/spool/types.js";
import { Telemetry } from "../../agent/telemetry/telemetry.js";
import { openTestSpool } from "../helpers/spool-ingest.js";

const spools: SpoolApi[] = [];
afterEach(() => {
  for (const s of spools.splice(0)) s.close();
});

function spoolWithCounter(
  opts: { maxBytes?: number; onFull?: "drop-oldest" | "drop-newest" | "block" } = {},
) {
  const telemetry = new Telemetry();
  const { spool } = openTestSpool({
    maxBytes: opts.maxBytes ?? 1e9,
    onFull: opts.onFull ?? "drop-oldest",
    telemetry,
  });
  spools.push(spool);
  spool.setSinks(["a"]);
  let commits = 0;
  const counted: SpoolApi = Object.create(spool) as SpoolApi;
  counted.append = (records) => {
    commits++;
    return spool.append(records);
  };
  return { spool: counted, real: spool, telemetry, commits: () => commits };
}

const reading = (i: number) => ({ sensor: "s", temperature: 20, deviceSeq: i });

/** An ingest whose commits may wait an hour: a group held for company is never committed within a test. */
function hourPaced(clock?: () => number) {
  const { spool, telemetry, commits } = spoolWithCounter();
  const ingest = createIngest(spool, telemetry, {
    agentId: "t",
    maxCommitRecords: 10_000,
    commitDelayMs: 3_600_000,
    ...(clock === undefined ? {} : { clock }),
  });
  // A failed expectation must not leave the hour-long timer holding the test worker open.
  onTestFinished(() => ingest.close());
  return { spool, ingest, commits };
}

describe("ingest group commit", () => {
  it("commits submissions of one event-loop turn in one transaction and resolves them in arrival order", async () => {
    const { spool, telemetry, commits } = spoolWithCounter();
    const ingest = createIngest(spool, telemetry, { agentId: "t", maxCommitRecords: 10_000 });
    const order: number[] = [];
    const all = Array.from({ length: 200 }, (_, i) =>
      ingest.submit("src", [{ sensor: `s${i % 7}`, temperature: 21, deviceSeq: i }]).then((o) => {
        order.push(i);
        return o;
      }),
    );
    const outcomes = await Promise.all(all);
    expect(order).toEqual([...order].sort((a, b) => a - b));
    expect(commits()).toBe(1);
    expect(outcomes.every((o) => o.stored === 1)).toBe(true);
    expect(spool.stats().records).toBe(200);
  });

  it("with commitDelayMs and another sender active, holds a group open across turns of the event loop until it is large enough", async () => {
    const { ingest, commits } = hourPaced();
    let resolved = 0;
    const reading = (i: number) => ({ sensor: "s", temperature: 20, deviceSeq: i });
    // Another client was active just now: a group may get its company.
    await ingest.submit("src", [reading(-1)], "other");
    expect(commits()).toBe(1);
    const first = ingest.submit("src", [reading(0)], "dev").then((o) => (resolved++, o));
    await new Promise((r) => setTimeout(r, 30));
    const second = ingest.submit("src", [reading(1)], "dev").then((o) => (resolved++, o));
    await new Promise((r) => setTimeout(r, 30));
    // Nothing is acknowledged before its commit, and nothing was committed yet.
    expect(resolved).toBe(0);
    expect(commits()).toBe(1);
    const rest = Array.from({ length: EARLY_COMMIT_RECORDS }, (_, i) => reading(i + 2));
    const third = ingest.submit("src", rest, "dev");
    const outcomes = await Promise.all([first, second, third]);
    expect(commits()).toBe(2);
    expect(outcomes.map((o) => o.stored)).toEqual([1, 1, EARLY_COMMIT_RECORDS]);
    // close() commits what is still waiting at once.
    const last = ingest.submit("src", [reading(10_000)], "dev");
    await new Promise((r) => setTimeout(r, 30));
    expect(commits()).toBe(2);
    await ingest.close();
    expect((await last).stored).toBe(1);
    expect(commits()).toBe(3);
  });

  it("never holds a lone sender that waits for each acknowledgement: every submission is its own commit", async () => {
    const { spool, telemetry, commits } = spoolWithCounter();
    // An hour-long delay: a single held group would never be acknowledged within the test.
    const ingest = createIngest(spool, telemetry, {
      agentId: "t",
      maxCommitRecords: 10_000,
      commitDelayMs: 3_600_000,
    });
    onTestFinished(() => ingest.close());
    for (let i = 0; i < 50; i++) {
      // The source itself is the sender when no key is given (an external broker connection, a port).
      const o = await ingest.submit("src", [reading(i)]);
      expect(o.stored).toBe(1);
      expect(commits()).toBe(i + 1);
    }
    expect(spool.stats().records).toBe(50);
  });

  it("groups two senders across turns of the event loop, acknowledging them in arrival order", async () => {
    const { ingest, commits } = hourPaced();
    await ingest.submit("src", [reading(0)], "b");
    expect(commits()).toBe(1);
    const order: string[] = [];
    const a = ingest.submit("src", [reading(1)], "a").then(() => order.push("a"));
    await new Promise((r) => setTimeout(r, 20));
    const b = ingest.submit("src", [reading(2)], "b").then(() => order.push("b"));
    await new Promise((r) => setTimeout(r, 20));
    // "b" was active a moment ago, so "a" waits for it rather than committing alone; then both wait.
    expect(commits()).toBe(1);
    expect(order).toEqual([]);
    await ingest.close();
    await Promise.all([a, b]);
    expect(commits()).toBe(2);
    expect(order).toEqual(["a", "b"]);
  });

  it("forgets senders after a few commit delays: one that fell silent no longer holds the others", async () => {
    let clock = 0;
    const { ingest, commits } = hourPaced(() => clock);
    await Promise.all(Array.from({ length: 100 }, (_, i) => ingest.submit("src", [reading(i)], `gone-${i}`)));
    expect(commits()).toBe(1);
    clock += 3_600_000 * ACTIVE_SENDER_DELAYS + 1;
    // An hour-long delay: were the silent ones still counted, this would never be acknowledged.
    for (let i = 0; i < 10; i++) await ingest.submit("src", [reading(1000 + i)], "alone");
    expect(commits()).toBe(11);
  });

  it("keeps the device's sequence number in the stored record as dseq, and leaves it out when there is none", async () => {
    const { spool, telemetry } = spoolWithCounter();
    const ingest = createIngest(spool, telemetry, { agentId: "t", maxCommitRecords: 100 });
    await ingest.submit("src", [
      { sensor: "s", temperature: 20, deviceSeq: 41 },
      { sensor: "s", temperature: 21 },
    ]);
    const [a, b] = spool.read(0, 10).map((r) => JSON.parse(r.body) as Record<string, unknown>);
    expect(a).toMatchObject({ sensor: "s", dseq: 41 });
    expect(b).not.toHaveProperty("dseq");
  });

  it("splits groups at maxCommitRecords and reports duplicates to the sender that sent them", async () => {
    const { spool, telemetry, commits } = spoolWithCounter();
    const ingest = createIngest(spool, telemetry, { agentId: "t", maxCommitRecords: 50 });
    const batch = Array.from({ length: 30 }, (_, i) => ({ sensor: "s", temperature: 20, deviceSeq: i }));
    const [a, b, c] = await Promise.all([
      ingest.submit("src", batch),
      ingest.submit("src", batch),
      ingest.submit("src", batch.slice(0, 10)),
    ]);
    expect(commits()).toBe(2); // 30, then 30 + 10 fit in one group of at most 50
    expect(a).toEqual({ stored: 30, duplicates: 0, dropped: 0 });
    expect(b).toEqual({ stored: 0, duplicates: 30, dropped: 0 });
    expect(c).toEqual({ stored: 0, duplicates: 10, dropped: 0 });
    expect(spool.stats().records).toBe(30);
  });

  it("holds acknowledgements while the spool is full under onFull: block, and releases them when space frees", async () => {
    const { spool, real, telemetry } = spoolWithCounter({ maxBytes: 20_000, onFull: "block" });
    const ingest = createIngest(spool, telemetry, { agentId: "t", maxCommitRecords: 1000 });
    const big = (from: number) =>
      Array.from({ length: 40 }, (_, i) => ({
        sensor: "s",
        temperature: 20,
        deviceSeq: from + i,
        attrs: { pad: "x".repeat(200) },
      }));
    await ingest.submit("src", big(0));
    let released = false;
    const held = ingest.submit("src", big(1000)).then(() => {
      released = true;
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(released).toBe(false);
    expect(ingest.pending).toBe(40);
    real.ack("a", real.stats().lastSeq, 40);
    await held;
    expect(released).toBe(true);
    expect(real.stats().records).toBe(40);
  });

  it("derives content ids so a redelivered device message is stored once", async () => {
    const { spool, telemetry } = spoolWithCounter();
    const ingest = createIngest(spool, telemetry, { agentId: "t", maxCommitRecords: 100 });
    const msg = { sensor: "kitchen/t1", temperature: 23.4, deviceTs: 1_763_774_400_123 };
    await ingest.submit("src", [msg]);
    const again = await ingest.submit("src", [{ ...msg }]);
    expect(again.duplicates).toBe(1);
    const [rec] = spool.read(0, 10);
    expect(JSON.parse(rec!.body)).toMatchObject({
      sensor: "kitchen/t1",
      ts: "2025-11-22T01:20:00.123Z",
      agent: "t",
      source: "src",
    });
    expect(rec!.id.startsWith("c")).toBe(true);
  });
});

describe("ingest shutdown", () => {
  it("does not hang on close while the spool blocks; unacknowledged submissions fail instead", async () => {
    const { spool, telemetry } = spoolWithCounter({ maxBytes: 5_000, onFull: "block" });
    const ingest = createIngest(spool, telemetry, { agentId: "t", maxCommitRecords: 1000 });
    const pad = "x".repeat(500);
    await ingest.submit(
      "src",
      Array.from({ length: 8 }, (_, i) => ({ sensor: "s", temperature: 1, deviceSeq: i, attrs: { pad } })),
    );
    const held = ingest.submit("src", [{ sensor: "s", temperature: 1, deviceSeq: 99, attrs: { pad } }]);
    await new Promise((r) => setTimeout(r, 50));
    await ingest.close();
    await expect(held).rejects.toThrow(/shutting down/);
    await expect(ingest.submit("src", [{ sensor: "s", temperature: 1 }])).rejects.toThrow(/closed/);
  });
});
