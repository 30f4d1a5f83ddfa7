import { describe, expect, it } from "vitest";
import { readSpoolStats } from "../../agent/spool/index.js";
import type { SpoolApi } from "../../agent/spool/types.js";
import { cleanupsAfterEach, metric, open, type Opts, record, tempDir } from "./helpers.js";

const H = 3_600_000;
const T0 = Date.UTC(2026, 10, 22, 1, 0, 0);
const cleanups = cleanupsAfterEach();

function setup(o: Omit<Opts, "dir"> = {}) {
  const t = tempDir();
  cleanups.push(t.cleanup);
  const clock = { wall: T0, mono: 0 };
  const opened = open({ dir: t.dir, now: () => clock.wall, monotonic: () => clock.mono, ...o });
  cleanups.push(() => opened.spool.close());
  return { ...opened, dir: t.dir, clock };
}

/** Appends one record at a time until the spool refuses, so byte limits are hit exactly. */
function fill(spool: SpoolApi, n: number, prefix = "r", pad = 200) {
  const results = [];
  for (let i = 0; i < n; i++) results.push(spool.append([record(`${prefix}${i}`, "s", T0, pad)]));
  return results;
}

const dropped = (spool: SpoolApi, sink: string) => spool.stats().sinks.find((s) => s.sink === sink)!.dropped;

describe("maxAge", () => {
  it("drops records older than maxAge by receive time, counted per sink that had not shipped them", async () => {
    const { spool, clock, telemetry } = setup({ maxAgeMs: 2 * H });
    spool.setSinks(["a", "b"]);
    spool.append([record("old1"), record("old2"), record("old3")]);
    clock.wall += H;
    clock.mono += H;
    spool.append([record("new1")]);
    spool.ack("b", 1, 1);
    clock.wall += H + 1;
    clock.mono += H + 1;
    expect(spool.enforceRetention()).toBe(3);
    expect(spool.read(0, 10).map((r) => r.id)).toEqual(["new1"]);
    expect(dropped(spool, "a")).toEqual({ "max-age": 3 });
    expect(dropped(spool, "b")).toEqual({ "max-age": 2 });
    expect(await metric(telemetry, "edgespool_dropped_total", { sink: "a", reason: "max-age" })).toBe(3);
    expect(await metric(telemetry, "edgespool_dropped_total", { sink: "b", reason: "max-age" })).toBe(2);
    clock.wall += H;
    clock.mono += H;
    expect(spool.enforceRetention()).toBe(1);
    expect(spool.stats().records).toBe(0);
  });

  it("reports the oldest unshipped age per sink", () => {
    const { spool, clock } = setup();
    spool.setSinks(["a"]);
    spool.append([record("1")]);
    clock.wall += 5000;
    clock.mono += 5000;
    spool.append([record("2")]);
    clock.wall += 1000;
    clock.mono += 1000;
    expect(spool.stats().sinks[0]).toMatchObject({ depth: 2, oldestAgeMs: 6000 });
    spool.ack("a", 1, 1);
    expect(spool.stats().sinks[0]).toMatchObject({ depth: 1, oldestAgeMs: 1000 });
  });
});

describe("onFull", () => {
  it("drop-oldest deletes the oldest records to make room and counts them as spool-full", async () => {
    const { spool, telemetry } = setup({ maxBytes: 4000, onFull: "drop-oldest" });
    spool.setSinks(["a", "b"]);
    const res = fill(spool, 40);
    expect(res.every((r) => r.stored === 1)).toBe(true);
    const s = spool.stats();
    expect(s.bytes).toBeLessThanOrEqual(4000);
    expect(s.records).toBeGreaterThan(5);
    const ids = spool.read(0, 100).map((r) => r.id);
    expect(ids.at(-1)).toBe("r39");
    expect(ids[0]).toBe(`r${40 - s.records}`);
    expect(dropped(spool, "a")).toEqual({ "spool-full": 40 - s.records });
    expect(await metric(telemetry, "edgespool_dropped_total", { sink: "b", reason: "spool-full" })).toBe(
      40 - s.records,
    );
  });

  it("drop-oldest does not count records a sink already shipped", () => {
    const { spool } = setup({ maxBytes: 4000, onFull: "drop-oldest" });
    spool.setSinks(["a", "b"]);
    fill(spool, 10, "r", 100);
    expect(spool.stats().records).toBe(10);
    spool.ack("a", 10, 10);
    fill(spool, 30, "x", 100);
    const s = spool.stats();
    const gone = 40 - s.records;
    expect(dropped(spool, "b")).toEqual({ "spool-full": gone });
    expect(dropped(spool, "a")).toEqual({ "spool-full": gone - 10 });
  });

  it("drop-newest refuses incoming records and keeps the old ones", async () => {
    const { spool, telemetry } = setup({ maxBytes: 4000, onFull: "drop-newest" });
    spool.setSinks(["a"]);
    const res = fill(spool, 40);
    const stored = res.filter((r) => r.stored === 1).length;
    expect(res.slice(stored).every((r) => r.droppedNewest === 1 && r.stored === 0)).toBe(true);
    expect(spool.read(0, 100).map((r) => r.id)).toEqual(Array.from({ length: stored }, (_, i) => `r${i}`));
    expect(spool.stats().bytes).toBeLessThanOrEqual(4000);
    // Refused readings were never stored (no seq): counted spool-wide, not as the sink's drops,
    // so shipped + dropped + depth = lastSeq still holds for the sink.
    expect(dropped(spool, "a")).toEqual({});
    expect(spool.stats().refused).toBe(40 - stored);
    expect(spool.stats().lastSeq).toBe(stored);
    expect(
      await metric(telemetry, "edgespool_rejected_total", { source: "spool", reason: "spool-full" }),
    ).toBe(40 - stored);
    // A re-sent id that is already stored is a duplicate, not a drop.
    expect(spool.append([record("r0", "s", T0, 200)])).toMatchObject({ duplicates: 1, droppedNewest: 0 });
  });

  it("block writes nothing and waitForSpace resolves once an ack frees room", async () => {
    const { spool, dir } = setup({ maxBytes: 4000, onFull: "block" });
    spool.setSinks(["a"]);
    const res = fill(spool, 40);
    const stored = res.findIndex((r) => r.blocked);
    expect(stored).toBeGreaterThan(0);
    expect(res[stored]).toEqual({ stored: 0, duplicates: 0, droppedNewest: 0, blocked: true });
    const before = spool.stats();
    expect(before.records).toBe(stored);
    expect(readSpoolStats(dir).lastSeq).toBe(stored);

    let resolved = false;
    const wait = spool.waitForSpace(10_000).then(() => {
      resolved = true;
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(resolved).toBe(false);
    spool.ack("a", 3, 3);
    await wait;
    expect(resolved).toBe(true);
    expect(spool.append([record("late", "s", T0, 200)])).toMatchObject({ stored: 1, blocked: false });
    expect(dropped(spool, "a")).toEqual({});
  });

  it("block: retention freeing room also wakes a waiting producer", async () => {
    const { spool, clock } = setup({ maxBytes: 4000, onFull: "block", maxAgeMs: H });
    spool.setSinks(["a"]);
    const stored = fill(spool, 40).findIndex((r) => r.blocked);
    const wait = spool.waitForSpace(10_000);
    clock.wall += H + 1;
    clock.mono += H + 1;
    expect(spool.enforceRetention()).toBe(stored);
    await wait;
    expect(spool.append([record("fresh", "s", clock.wall, 200)])).toMatchObject({
      stored: 1,
      blocked: false,
    });
    expect(dropped(spool, "a")).toEqual({ "max-age": stored });
  });

  it("waitForSpace resolves after its timeout when nothing frees room", async () => {
    const { spool } = setup({ maxBytes: 2000, onFull: "block" });
    spool.setSinks(["a"]);
    fill(spool, 20);
    const t = performance.now();
    await spool.waitForSpace(50);
    expect(performance.now() - t).toBeGreaterThanOrEqual(40);
  });
});

describe("disk full (SQLITE_FULL, provoked with max_page_count)", () => {
  const big = (i: number, n: number) =>
    Array.from({ length: n }, (_, k) => record(`b${i}-${k}`, "s", T0, 500));

  it("drop-oldest keeps accepting by dropping the oldest records", () => {
    const { spool } = setup({ maxPageCount: 80, onFull: "drop-oldest" });
    spool.setSinks(["a"]);
    let stored = 0;
    for (let i = 0; i < 30; i++) stored += spool.append(big(i, 50)).stored;
    expect(stored).toBe(1500);
    const s = spool.stats();
    expect(s.records).toBeLessThan(1500);
    expect(s.sinks[0]!.dropped["spool-full"]).toBe(1500 - s.records);
    expect(spool.read(0, 5000).at(-1)!.id).toBe("b29-49");
  });

  it("drop-newest refuses and block blocks, without throwing", () => {
    for (const onFull of ["drop-newest", "block"] as const) {
      const { spool } = setup({ maxPageCount: 80, onFull });
      spool.setSinks(["a"]);
      const res = Array.from({ length: 30 }, (_, i) => spool.append(big(i, 50)));
      if (onFull === "block") expect(res.some((r) => r.blocked)).toBe(true);
      else expect(res.some((r) => r.droppedNewest > 0)).toBe(true);
      const s = spool.stats();
      expect(s.records).toBeGreaterThan(0);
      expect(spool.read(0, 5000)).toHaveLength(s.records);
    }
  });

  it("a batch refused with an empty spool (no room even after dropping) is in no sink's count", () => {
    const { spool } = setup({ maxPageCount: 80, onFull: "drop-oldest" });
    spool.setSinks(["a"]);
    // Everything shipped: nothing left to drop, and this batch alone is larger than the file may be.
    expect(spool.append(big(0, 400))).toMatchObject({ stored: 0, droppedNewest: 400 });
    const s = spool.stats();
    expect(s.lastSeq).toBe(0);
    expect(s.refused).toBe(400);
    // shipped + dropped + depth = lastSeq: the refused readings never had a seq.
    expect(s.sinks[0]).toMatchObject({ shipped: 0, dropped: {}, depth: 0 });
    expect(spool.append(big(1, 10)).stored).toBe(10);
    expect(spool.stats().lastSeq).toBe(10);
  });
});

describe("clock steps", () => {
  it("a wall clock stepping back neither breaks seq nor lets maxAge drop fresh data", () => {
    const { spool, clock, dir } = setup({ maxAgeMs: H });
    spool.setSinks(["a"]);
    spool.append([record("before")]);
    clock.wall -= 10 * 24 * H;
    clock.mono += 1000;
    spool.append([record("after", "kitchen/t1", clock.wall)]);
    clock.wall += 30 * 60_000;
    clock.mono += 30 * 60_000;
    expect(spool.enforceRetention()).toBe(0);
    expect(spool.read(0, 10).map((r) => [r.id, r.seq])).toEqual([
      ["before", 1],
      ["after", 2],
    ]);
    spool.close();
    const again = open({ dir, now: () => clock.wall, monotonic: () => clock.mono, maxAgeMs: H }).spool;
    cleanups.push(() => again.close());
    expect(again.append([record("restarted", "kitchen/t1", clock.wall)]).stored).toBe(1);
    expect(again.read(2, 10).map((r) => r.seq)).toEqual([3]);
    expect(again.enforceRetention()).toBe(0);
    // Elapsed time still ages records: an hour later by the monotonic clock they expire.
    clock.wall += H + 1;
    clock.mono += H + 1;
    expect(again.enforceRetention()).toBe(3);
  });

  it("a wall clock jumping forward by days (first NTP sync) does not age the backlog", () => {
    const { spool, clock, dir } = setup({ maxAgeMs: 24 * H });
    spool.setSinks(["a"]);
    spool.append([record("pre-sync")]);
    clock.wall += 3 * 24 * H;
    clock.mono += 60_000;
    expect(spool.enforceRetention()).toBe(0);
    expect(spool.stats().sinks[0]!.oldestAgeMs).toBe(60_000);
    spool.close();
    clock.wall += 60_000;
    clock.mono += 60_000;
    const again = open({ dir, now: () => clock.wall, monotonic: () => clock.mono, maxAgeMs: 24 * H }).spool;
    cleanups.push(() => again.close());
    expect(again.enforceRetention()).toBe(0);
    expect(again.stats().sinks[0]!.oldestAgeMs).toBe(120_000);
    expect(readSpoolStats(dir, () => clock.wall).sinks[0]!.oldestAgeMs).toBe(120_000);
  });
});
