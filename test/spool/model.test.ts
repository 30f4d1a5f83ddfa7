import Database from "better-sqlite3";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeRecord, encodeRecord } from "../../agent/record/record.js";
import { ROW_OVERHEAD } from "../../agent/spool/db.js";
import type { SpoolApi } from "../../agent/spool/types.js";
import { cleanupsAfterEach, open, record, tempDir } from "./helpers.js";

/**
 * Model-based: the spool against a plain array of what it should hold, over random sequences of
 * group commits (with duplicate ids), reads, acks by three sinks, dead letters and restarts.
 */

const SINKS = ["a", "b", "c"] as const;
const SENSORS = ["s0", "s1", "s2"] as const;

type Op =
  | { kind: "append"; rows: { id: number; sensor: number }[] }
  | { kind: "read"; sink: number; limit: number }
  | { kind: "ack"; sink: number; frac: number }
  | { kind: "dead"; sink: number }
  | { kind: "restart" };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("append" as const),
      rows: fc.array(fc.record({ id: fc.nat(40), sensor: fc.nat(SENSORS.length - 1) }), {
        minLength: 1,
        maxLength: 8,
      }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("read" as const),
      sink: fc.nat(2),
      limit: fc.integer({ min: 1, max: 12 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("ack" as const),
      sink: fc.nat(2),
      frac: fc.double({ min: 0, max: 1, noNaN: true }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("dead" as const), sink: fc.nat(2) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("restart" as const) }) },
);

interface ModelRow {
  seq: number;
  id: string;
  sensor: string;
  /** Order of arrival of this sensor's readings, to check per-sensor order. */
  n: number;
}

const cleanups = cleanupsAfterEach();

function countRows(dir: string): number {
  const db = new Database(`${dir}/spool.db`, { readonly: true });
  try {
    return db.prepare("SELECT count(*) FROM records").pluck().get() as number;
  } finally {
    db.close();
  }
}

function runModel(ops: Op[]): void {
  const t = tempDir();
  cleanups.push(t.cleanup);
  let spool: SpoolApi = open({ dir: t.dir }).spool;
  spool.setSinks(SINKS);
  let rows: ModelRow[] = [];
  let lastSeq = 0;
  const sensorCount = new Map<string, number>();
  const cursor = new Map<string, number>(SINKS.map((s) => [s, 0]));
  const readPos = new Map<string, number>(SINKS.map((s) => [s, 0]));
  const lastPage = new Map<string, ReturnType<SpoolApi["read"]>>();
  let deadCount = 0;

  for (const op of ops) {
    if (op.kind === "append") {
      let stored = 0;
      let dups = 0;
      for (const r of op.rows) {
        const id = `id${r.id}`;
        if (rows.some((x) => x.id === id)) {
          dups++;
          continue;
        }
        const sensor = SENSORS[r.sensor]!;
        const n = (sensorCount.get(sensor) ?? 0) + 1;
        sensorCount.set(sensor, n);
        rows.push({ seq: ++lastSeq, id, sensor, n });
        stored++;
      }
      const res = spool.append(op.rows.map((r) => record(`id${r.id}`, SENSORS[r.sensor]!)));
      expect(res).toMatchObject({ stored, duplicates: dups, droppedNewest: 0, blocked: false });
    } else if (op.kind === "read") {
      const sink = SINKS[op.sink]!;
      const from = readPos.get(sink)!;
      const page = spool.read(from, op.limit);
      const expected = rows.filter((r) => r.seq > from).slice(0, op.limit);
      // Nothing lost, nothing after the cursor skipped, nothing at or before the ack returned.
      expect(page.map((p) => [p.seq, p.id])).toEqual(expected.map((r) => [r.seq, r.id]));
      for (const p of page) {
        expect(p.seq).toBeGreaterThan(cursor.get(sink)!);
        expect(decodeRecord(p.body).seq).toBe(p.seq);
      }
      for (const s of SENSORS) {
        const ns = expected.filter((r) => r.sensor === s).map((r) => r.n);
        expect(ns).toEqual([...ns].sort((x, y) => x - y));
      }
      if (page.length > 0) readPos.set(sink, page[page.length - 1]!.seq);
      lastPage.set(sink, page);
    } else if (op.kind === "ack") {
      const sink = SINKS[op.sink]!;
      const c = cursor.get(sink)!;
      const upto = Math.max(c, Math.floor(c + (readPos.get(sink)! - c) * op.frac));
      spool.ack(sink, upto, upto - c);
      cursor.set(sink, upto);
      const min = Math.min(...cursor.values());
      rows = rows.filter((r) => r.seq > min);
    } else if (op.kind === "dead") {
      const sink = SINKS[op.sink]!;
      const first = lastPage.get(sink)?.[0];
      if (first !== undefined) {
        spool.deadLetter(sink, [{ record: first, reason: "test" }]);
        deadCount++;
      }
    } else {
      spool.close();
      spool = open({ dir: t.dir }).spool;
      spool.setSinks(SINKS);
      for (const s of SINKS) {
        expect(spool.cursor(s)).toBe(cursor.get(s));
        readPos.set(s, cursor.get(s)!);
      }
      lastPage.clear();
    }
    const st = spool.stats();
    expect(st.records).toBe(rows.length);
    expect(st.lastSeq).toBe(lastSeq);
    for (const s of st.sinks) expect(s.depth).toBe(rows.filter((r) => r.seq > cursor.get(s.sink)!).length);
  }
  const st = spool.stats();
  expect(st.sinks.reduce((n, s) => n + s.deadLetters, 0)).toBe(deadCount);
  spool.close();
  expect(countRows(t.dir)).toBe(rows.length);
}

describe("spool model", () => {
  it("loses nothing unacked, never returns acked records, keeps seq and per-sensor order across restarts", () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => runModel(ops)),
      { numRuns: Number(process.env.EDGESPOOL_SOAK) ? 1000 : 120 },
    );
  });
});

type FullOp =
  | { kind: "append"; n: number; pad: number }
  | { kind: "read"; sink: number; limit: number }
  | { kind: "ack"; sink: number; frac: number }
  | { kind: "restart" };

const fullOpArb: fc.Arbitrary<FullOp> = fc.oneof(
  fc.record({ kind: fc.constant("append" as const), n: fc.integer({ min: 1, max: 6 }), pad: fc.nat(300) }),
  fc.record({ kind: fc.constant("read" as const), sink: fc.nat(1), limit: fc.integer({ min: 1, max: 8 }) }),
  fc.record({
    kind: fc.constant("ack" as const),
    sink: fc.nat(1),
    frac: fc.double({ min: 0, max: 1, noNaN: true }),
  }),
  fc.record({ kind: fc.constant("restart" as const) }),
);

describe("spool model, full under drop-oldest", () => {
  it("drops exactly the oldest records the byte bound requires; every other one reaches each sink or is counted", () => {
    fc.assert(
      fc.property(fc.array(fullOpArb, { maxLength: 50 }), (ops) => {
        const t = tempDir();
        cleanups.push(t.cleanup);
        const maxBytes = 3000;
        const reopen = () => open({ dir: t.dir, maxBytes, onFull: "drop-oldest" }).spool;
        let spool = reopen();
        spool.setSinks(["a", "b"]);
        const delivered = new Map<string, Set<number>>([
          ["a", new Set()],
          ["b", new Set()],
        ]);
        const pos = new Map<string, number>([
          ["a", 0],
          ["b", 0],
        ]);
        let stored = 0;
        let next = 0;
        /** Stored records not yet acknowledged by both sinks, oldest first, with their spool size. */
        let live: { seq: number; size: number }[] = [];
        const readPage = (sink: string, limit: number) => {
          const page = spool.read(pos.get(sink)!, limit);
          for (const r of page) {
            expect(r.seq).toBeGreaterThan(spool.cursor(sink));
            delivered.get(sink)!.add(r.seq);
          }
          if (page.length > 0) pos.set(sink, page.at(-1)!.seq);
          return page.length;
        };
        for (const op of ops) {
          if (op.kind === "append") {
            const rows = Array.from({ length: op.n }, () =>
              record(`f${next++}`, "s", Date.UTC(2026, 10, 22), op.pad),
            );
            const before = spool.stats().lastSeq;
            stored += spool.append(rows).stored;
            expect(spool.stats().bytes).toBeLessThanOrEqual(maxBytes);
            rows.forEach((r, i) => {
              const seq = before + i + 1;
              live.push({ seq, size: Buffer.byteLength(encodeRecord(r, seq)) + ROW_OVERHEAD });
            });
            const done = Math.min(spool.cursor("a"), spool.cursor("b"));
            live = live.filter((r) => r.seq > done);
            const held = spool.read(0, 1_000_000, Number.MAX_SAFE_INTEGER).map((r) => r.seq);
            // What went is the oldest: the spool holds the newest records, in order.
            const kept = live.slice(live.length - held.length);
            expect(held).toEqual(kept.map((r) => r.seq));
            // And no more than the bound required: the newest dropped record would not have fit.
            if (kept.length < live.length) {
              const keptBytes = kept.reduce((n, r) => n + r.size, 0);
              expect(keptBytes + live[live.length - kept.length - 1]!.size).toBeGreaterThan(maxBytes);
            }
            live = kept;
          } else if (op.kind === "read") readPage(["a", "b"][op.sink]!, op.limit);
          else if (op.kind === "ack") {
            const sink = ["a", "b"][op.sink]!;
            const c = spool.cursor(sink);
            spool.ack(sink, Math.floor(c + (pos.get(sink)! - c) * op.frac), 0);
          } else {
            spool.close();
            spool = reopen();
            spool.setSinks(["a", "b"]);
            for (const s of ["a", "b"]) pos.set(s, spool.cursor(s));
          }
        }
        for (const sink of ["a", "b"]) {
          while (readPage(sink, 100) > 0);
          spool.ack(sink, pos.get(sink)!, 0);
        }
        const st = spool.stats();
        expect(st.records).toBe(0);
        for (const s of st.sinks) {
          const missed = stored - delivered.get(s.sink)!.size;
          expect(missed).toBeLessThanOrEqual(s.dropped["spool-full"] ?? 0);
          expect(s.dropped["spool-full"] ?? 0).toBeLessThanOrEqual(stored);
        }
        spool.close();
      }),
      { numRuns: Number(process.env.EDGESPOOL_SOAK) ? 500 : 60 },
    );
  });
});
