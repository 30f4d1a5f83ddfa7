import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { decodeRecord } from "../../agent/record/record.js";
import { readSpoolStats } from "../../agent/spool/index.js";
import { cleanupsAfterEach, metric, open, record, tempDir } from "./helpers.js";

const cleanups = cleanupsAfterEach();

function setup() {
  const t = tempDir();
  cleanups.push(t.cleanup);
  return t.dir;
}

describe("spool basics", () => {
  it("appends, reads pages in seq order, stores duplicates once", () => {
    const dir = setup();
    const { spool } = open({ dir });
    spool.setSinks(["a"]);
    const r1 = spool.append([record("x1"), record("x2"), record("x1")]);
    expect(r1).toMatchObject({ stored: 2, duplicates: 1, droppedNewest: 0, blocked: false });
    expect(spool.append([record("x2"), record("x3")])).toMatchObject({ stored: 1, duplicates: 1 });
    const page = spool.read(0, 2);
    expect(page.map((r) => r.id)).toEqual(["x1", "x2"]);
    expect(page.map((r) => r.seq)).toEqual([1, 2]);
    expect(decodeRecord(page[0]!.body)).toMatchObject({ id: "x1", seq: 1, sensor: "kitchen/t1" });
    expect(spool.read(2, 10).map((r) => r.id)).toEqual(["x3"]);
    spool.close();
  });

  it("deletes only what every sink acknowledged and keeps counters across a reopen", () => {
    const dir = setup();
    let { spool } = open({ dir });
    spool.setSinks(["a", "b"]);
    spool.append([record("1"), record("2"), record("3")]);
    spool.ack("a", 3, 3);
    expect(spool.stats().records).toBe(3);
    spool.ack("b", 1, 1);
    expect(spool.stats().records).toBe(2);
    spool.close();
    ({ spool } = open({ dir }));
    expect(spool.cursor("a")).toBe(3);
    expect(spool.cursor("b")).toBe(1);
    const s = spool.stats();
    expect(s.sinks.find((x) => x.sink === "b")).toMatchObject({ depth: 2, shipped: 1, cursor: 1 });
    expect(s.sinks.find((x) => x.sink === "a")).toMatchObject({ depth: 0, shipped: 3 });
    expect(spool.append([record("4")]).stored).toBe(1);
    expect(spool.read(3, 10).map((r) => r.seq)).toEqual([4]);
    const other = readSpoolStats(dir);
    expect(other.lastSeq).toBe(4);
    expect(other.sinks.map((x) => x.depth)).toEqual([1, 3]);
    spool.close();
  });

  it("writes the meta row only with deletes, yet a crash loses neither lastSeq, bytes nor spool time", () => {
    const dir = setup();
    const { spool } = open({ dir });
    spool.setSinks(["a"]);
    const meta = (): Record<string, number | null> => {
      const db = new Database(join(dir, "spool.db"), { readonly: true });
      const rows = db.prepare("SELECT key, value FROM meta").all() as { key: string; value: number }[];
      const at = db.prepare("SELECT max(at) FROM records").pluck().get() as number | null;
      db.close();
      return { ...Object.fromEntries(rows.map((r) => [r.key, r.value])), at };
    };
    const before = meta();
    for (let i = 0; i < 5; i++)
      spool.append([record(`a${i}`), record(`b${i}`, "hall/t1", Date.UTC(2026, 10, 22), 50)]);
    // Group commits of inserts leave the meta page alone: one page less to write per commit.
    expect(meta()).toMatchObject({ lastSeq: before.lastSeq, bytes: before.bytes });
    const live = spool.stats();
    expect(readSpoolStats(dir)).toMatchObject({ lastSeq: 10, bytes: live.bytes, records: 10 });
    spool.ack("a", 4, 4);
    expect(meta()).toMatchObject({ lastSeq: 10 });
    spool.append([record("c1"), record("c2")]);
    const stored = meta();
    // A crash: no close(), the next process opens the same file.
    const { spool: again } = open({ dir });
    cleanups.unshift(() => again.close());
    expect(again.stats()).toMatchObject({ lastSeq: 12, records: 8, bytes: spool.stats().bytes });
    expect(again.append([record("d1")]).stored).toBe(1);
    expect(again.read(12, 10).map((r) => r.seq)).toEqual([13]);
    // Spool time never goes back below what rows already carry.
    expect(meta().at).toBeGreaterThanOrEqual(stored.at!);
  });

  it("setSinks removes cursors of sinks no longer configured and a new sink starts at 0", () => {
    const dir = setup();
    const { spool } = open({ dir });
    spool.setSinks(["a", "b"]);
    spool.append([record("1"), record("2")]);
    spool.ack("a", 2, 2);
    spool.setSinks(["a"]);
    expect(spool.stats().records).toBe(0);
    spool.append([record("3")]);
    spool.setSinks(["a", "c"]);
    expect(spool.cursor("c")).toBe(0);
    expect(spool.read(spool.cursor("c"), 10).map((r) => r.id)).toEqual(["3"]);
    spool.close();
  });

  it("keeps seq increasing across restarts even after every record was deleted", () => {
    const dir = setup();
    let { spool } = open({ dir });
    spool.setSinks(["a"]);
    spool.append([record("1"), record("2")]);
    spool.ack("a", 2, 2);
    expect(spool.stats().records).toBe(0);
    spool.close();
    ({ spool } = open({ dir }));
    spool.append([record("3")]);
    expect(spool.read(0, 10).map((r) => r.seq)).toEqual([3]);
    spool.close();
  });

  it("stores dead letters and counts them and filtered records per sink, durably", async () => {
    const dir = setup();
    const { spool, telemetry } = open({ dir });
    spool.setSinks(["a", "b"]);
    spool.append([record("1"), record("2"), record("3")]);
    const page = spool.read(0, 10);
    spool.deadLetter("a", [{ record: page[1]!, reason: "http 400" }]);
    spool.countDropped("b", "filter", 2);
    spool.ack("a", 3, 2);
    spool.close();
    const s = readSpoolStats(dir);
    expect(s.sinks.find((x) => x.sink === "a")).toMatchObject({
      deadLetters: 1,
      shipped: 2,
      dropped: { "dead-letter": 1 },
    });
    expect(s.sinks.find((x) => x.sink === "b")).toMatchObject({ dropped: { filter: 2 }, depth: 3 });
    const db = new Database(join(dir, "spool.db"), { readonly: true });
    expect(db.prepare("SELECT sink, seq, id, body, reason FROM dead_letters").all()).toEqual([
      { sink: "a", seq: 2, id: "2", body: page[1]!.body, reason: "http 400" },
    ]);
    db.close();
    expect(await metric(telemetry, "edgespool_dropped_total", { sink: "a", reason: "dead-letter" })).toBe(1);
    expect(await metric(telemetry, "edgespool_dropped_total", { sink: "b", reason: "filter" })).toBe(2);
  });

  it("readSpoolStats of a missing spool is empty", () => {
    expect(readSpoolStats(setup())).toMatchObject({
      records: 0,
      bytes: 0,
      fileBytes: 0,
      lastSeq: 0,
      sinks: [],
    });
  });
});
