import { randomBytes } from "node:crypto";
import {
  closeSync,
  existsSync,
  openSync,
  readdirSync,
  statSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { PAGE_SIZE } from "../../agent/spool/db.js";
import { readSpoolStats } from "../../agent/spool/index.js";
import { capturingTelemetry, cleanupsAfterEach, open, record, tempDir } from "./helpers.js";

const cleanups = cleanupsAfterEach();

function setup() {
  const t = tempDir();
  cleanups.push(t.cleanup);
  return t.dir;
}

const mode = (f: string) => statSync(f).mode & 0o777;
const batch = (from: number, n: number, pad = 0) =>
  Array.from({ length: n }, (_, i) => record(`id${from + i}`, `s${i % 7}`, Date.UTC(2026, 10, 22), pad));

function expectRecovered(dir: string, lines: { level: number; msg: string }[]) {
  const aside = readdirSync(dir).filter((f) => f.startsWith("spool.db.corrupt-"));
  expect(aside.length).toBeGreaterThanOrEqual(1);
  expect(lines.some((l) => l.level === 50 && /corrupt/.test(l.msg))).toBe(true);
  expect(mode(join(dir, "spool.db"))).toBe(0o600);
}

describe("spool files", () => {
  it("creates the folder 0700 and the database, WAL and SHM 0600, whatever the umask", () => {
    const dir = setup();
    const old = process.umask(0);
    try {
      const { spool } = open({ dir });
      cleanups.unshift(() => spool.close());
      spool.append(batch(0, 10));
      expect(mode(dir)).toBe(0o700);
      for (const f of ["spool.db", "spool.db-wal", "spool.db-shm"]) expect(mode(join(dir, f))).toBe(0o600);
    } finally {
      process.umask(old);
    }
  });

  it("reclaim shrinks a drained spool's files to a small fraction of their high-water size", () => {
    const dir = setup();
    const { spool } = open({ dir });
    cleanups.unshift(() => spool.close());
    spool.setSinks(["a"]);
    for (let i = 0; i < 50; i++) spool.append(batch(i * 1000, 1000, 900));
    const full = spool.stats();
    expect(full.fileBytes).toBeGreaterThan(50 * 1024 * 1024);
    for (let seq = 0; seq < full.lastSeq;) {
      const page = spool.read(seq, 5000);
      seq = page.at(-1)!.seq;
      spool.ack("a", seq, page.length);
    }
    expect(spool.stats().records).toBe(0);
    spool.reclaim();
    const after = spool.stats();
    expect(after.fileBytes).toBeLessThan(full.fileBytes / 20);
    expect(statSync(join(dir, "spool.db")).size).toBeLessThan(1024 * 1024);
    expect(after.bytes).toBe(0);
    // Still a working spool, and seq continues.
    expect(spool.append(batch(10 ** 6, 1)).stored).toBe(1);
    expect(spool.read(0, 10).map((r) => r.seq)).toEqual([full.lastSeq + 1]);
  });

  it("readSpoolStats reads a closed spool and one another connection is writing", () => {
    const dir = setup();
    const { spool } = open({ dir });
    spool.setSinks(["a"]);
    spool.append(batch(0, 5));
    expect(readSpoolStats(dir)).toMatchObject({ records: 5, lastSeq: 5, sinks: [{ sink: "a", depth: 5 }] });
    spool.ack("a", 2, 2);
    expect(readSpoolStats(dir).sinks[0]).toMatchObject({ depth: 3, shipped: 2, cursor: 2 });
    spool.close();
    expect(existsSync(join(dir, "spool.db-wal"))).toBe(false);
    expect(readSpoolStats(dir)).toMatchObject({ records: 3, lastSeq: 5 });
  });
});

describe("corruption", () => {
  it("moves a file of garbage aside, logs an error and starts fresh with seq above the old ones", () => {
    const dir = setup();
    open({ dir }).spool.close();
    writeFileSync(join(dir, "spool.db"), randomBytes(64 * 1024));
    const { telemetry, lines } = capturingTelemetry();
    const { spool } = open({ dir, telemetry });
    cleanups.unshift(() => spool.close());
    expectRecovered(dir, lines);
    spool.setSinks(["a"]);
    expect(spool.append(batch(0, 3)).stored).toBe(3);
    const page = spool.read(0, 10);
    expect(page.map((r) => r.id)).toEqual(["id0", "id1", "id2"]);
    // The old high-water mark is gone; seq restarts above anything a clock-bound agent issued.
    expect(page[0]!.seq).toBeGreaterThan(Date.UTC(2026, 0, 1) * 1000);
  });

  it("recovers from a truncated database, at open or at the first read", () => {
    const dir = setup();
    const first = open({ dir }).spool;
    first.setSinks(["a"]);
    for (let i = 0; i < 20; i++) first.append(batch(i * 1000, 1000, 100));
    first.close();
    const file = join(dir, "spool.db");
    truncateSync(file, Math.floor(statSync(file).size * 0.4));
    const { telemetry, lines } = capturingTelemetry();
    const { spool } = open({ dir, telemetry });
    cleanups.unshift(() => spool.close());
    spool.setSinks(["a"]);
    let seq = spool.cursor("a");
    for (let page = spool.read(seq, 500); page.length > 0; page = spool.read(seq, 500))
      seq = page.at(-1)!.seq;
    expectRecovered(dir, lines);
    expect(spool.append(batch(50_000, 2)).stored).toBe(2);
    const fresh = spool.read(spool.cursor("a"), 10);
    expect(fresh.map((r) => r.id)).toEqual(["id50000", "id50001"]);
    expect(fresh[0]!.seq).toBeGreaterThan(20_000);
  });
});

describe("corruption found while running", () => {
  it("moves the file aside at the failing read, keeps seq increasing and counts what sinks lost", () => {
    const dir = setup();
    const first = open({ dir }).spool;
    first.setSinks(["a"]);
    for (let i = 0; i < 20; i++) first.append(batch(i * 1000, 1000, 200));
    first.ack("a", 5000, 5000);
    first.reclaim();
    first.close();
    // Garbage over 16 leaf pages from the middle of the records, wherever the file keeps them:
    // the ends that opening touches stay intact.
    const file = join(dir, "spool.db");
    const probe = new Database(file, { readonly: true });
    const leaves = probe
      .prepare("SELECT pageno FROM dbstat WHERE name = 'records' AND pagetype = 'leaf' ORDER BY path")
      .pluck()
      .all() as number[];
    probe.close();
    const fd = openSync(file, "r+");
    const middle = Math.floor(leaves.length / 2);
    for (const page of leaves.slice(middle, middle + 16))
      writeSync(fd, randomBytes(PAGE_SIZE), 0, PAGE_SIZE, (page - 1) * PAGE_SIZE);
    closeSync(fd);

    const { telemetry, lines } = capturingTelemetry();
    const { spool } = open({ dir, telemetry });
    cleanups.unshift(() => spool.close());
    spool.setSinks(["a"]);
    expect(lines.some((l) => l.level === 50)).toBe(false);
    expect(spool.read(5000, 20_000)).toEqual([]);
    expectRecovered(dir, lines);
    expect(spool.cursor("a")).toBe(20_000);
    expect(spool.stats().sinks[0]!.dropped).toEqual({ "spool-corrupt": 15_000 });
    expect(spool.append(batch(90_000, 1)).stored).toBe(1);
    expect(spool.read(spool.cursor("a"), 10).map((r) => r.seq)).toEqual([20_001]);
  });
});
