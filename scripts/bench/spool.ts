import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import Database from "better-sqlite3";
import { randomId } from "../../agent/record/ids.js";
import { encodeRecord, type NewRecord } from "../../agent/record/record.js";
import { openSpool } from "../../agent/spool/index.js";
import { Telemetry } from "../../agent/telemetry/telemetry.js";
import type { Bench, BenchRow } from "./types.js";

/**
 * Spool append rate against raw better-sqlite3 batched inserts of the same rows (same columns,
 * same bodies, same WAL and synchronous settings, no UNIQUE index and no accounting), and the
 * memory a large backlog costs while a sink pages through it.
 */

const BATCH = 1000;
const MiB = 2 ** 20;
const T0 = Date.UTC(2026, 10, 22);

function gcIfPossible(): () => void {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as (() => void) | undefined;
  return () => gc?.();
}

/** One group commit of readings from a fleet of 500 thermometers, with the ids ingest gives them. */
function makeBatch(from: number): NewRecord[] {
  const out: NewRecord[] = [];
  for (let i = 0; i < BATCH; i++) {
    const n = from + i;
    const rx = new Date(T0 + n * 10).toISOString();
    out.push({
      id: randomId(T0 + n * 10),
      sensor: `room-${n % 500}/t1`,
      ts: rx,
      temperature: 20 + (n % 100) / 10,
      humidity: 40 + (n % 30),
      source: "bench",
      agent: "pi-bench",
      rx,
    });
  }
  return out;
}

interface Row {
  r: NewRecord;
  seq: number;
  body: string;
  ms: number;
}

/** A plain better-sqlite3 table with the spool's columns: the floor of what any spool costs. */
function rawTable(
  dir: string,
  name: string,
  unique: boolean,
): { commit: (rows: Row[]) => void; close: () => void } {
  const db = new Database(join(dir, `${name}.db`));
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.exec(
    `CREATE TABLE records (seq INTEGER PRIMARY KEY, id TEXT ${unique ? "UNIQUE" : ""}, sensor TEXT, rx INTEGER, ts INTEGER, body TEXT)`,
  );
  const insert = db.prepare("INSERT INTO records VALUES (?, ?, ?, ?, ?, ?)");
  const commit = db.transaction((rows: Row[]) => {
    for (const x of rows) insert.run(x.seq, x.r.id, x.r.sensor, x.ms, x.ms, x.body);
  });
  return { commit, close: () => db.close() };
}

function timed(fn: () => void): number {
  const t = performance.now();
  fn();
  return performance.now() - t;
}

export const run: Bench = async ({ quick }) => {
  const n = quick ? 200_000 : 1_000_000;
  const gc = gcIfPossible();
  const base = mkdtempSync(join(tmpdir(), "edgespool-bench-spool-"));
  try {
    const plain = rawTable(base, "plain", false);
    const unique = rawTable(base, "unique", true);
    const telemetry = new Telemetry();
    // Opened twice: once to fill it, once more to page through the backlog it kept on disk.
    const open = () =>
      openSpool({
        dir: join(base, "spool"),
        sync: "normal",
        maxBytes: 4 * 1024 * MiB,
        maxAgeMs: 24 * 3_600_000,
        onFull: "drop-oldest",
        telemetry,
      });
    const spool = open();
    spool.setSinks(["bench"]);
    spool.append(makeBatch(0));
    let peakIngest = process.memoryUsage().rss;
    const ms = { plain: 0, unique: 0, spool: 0 };
    // Interleaved batch by batch, so all three see the same machine load (other processes, disk).
    for (let done = BATCH; done < n; done += BATCH) {
      const batch = makeBatch(done);
      const rows = batch.map((r, i) => {
        const seq = done + i;
        return { r, seq, body: encodeRecord({ ...r, seq }), ms: Date.parse(r.rx) };
      });
      ms.plain += timed(() => plain.commit(rows));
      ms.unique += timed(() => unique.commit(rows));
      ms.spool += timed(() => spool.append(batch));
      peakIngest = Math.max(peakIngest, process.memoryUsage().rss);
    }
    plain.close();
    unique.close();
    const rate = (x: number) => (n - BATCH) / (x / 1000);
    spool.close();

    // The backlog's cost on its own: reopen the spool with every record still queued (opening
    // loads nothing) and let a sink page through all of it.
    gc();
    // Let freed memory go back to the OS before the reference reading.
    await new Promise((r) => setTimeout(r, 300));
    gc();
    const rssEmpty = process.memoryUsage().rss;
    const again = open();
    const queued = again.stats();
    let peakPaging = process.memoryUsage().rss;
    let seen = 0;
    const tRead = performance.now();
    for (let seq = again.cursor("bench"); ;) {
      const page = again.read(seq, 500, 1024 * 1024);
      if (page.length === 0) break;
      seen += page.length;
      seq = page[page.length - 1]!.seq;
      if (seen % 20_000 < 500) peakPaging = Math.max(peakPaging, process.memoryUsage().rss);
    }
    const readRate = seen / ((performance.now() - tRead) / 1000);
    peakPaging = Math.max(peakPaging, process.memoryUsage().rss);
    again.close();

    const name = `spool append, group commits of ${BATCH} (records/s)`;
    const rows: BenchRow[] = [
      {
        name,
        value: rate(ms.spool),
        unit: "records/s",
        baselineName: "raw better-sqlite3 batched INSERT, plain table",
        baseline: rate(ms.plain),
        ratio: ms.plain / ms.spool,
        target: ">= 0.5",
        peakRssMiB: peakIngest / MiB,
        note: "the spool also encodes each record and keeps UNIQUE(id)",
      },
      {
        name,
        value: rate(ms.spool),
        unit: "records/s",
        baselineName: "raw batched INSERT, plain table + UNIQUE(id)",
        baseline: rate(ms.unique),
        ratio: ms.unique / ms.spool,
        note: "same constraint as the spool: what the spool's own bookkeeping costs",
      },
      {
        name: `RSS added by ${queued.records.toLocaleString("en-US")} queued records: open + page through all with read()`,
        value: (peakPaging - rssEmpty) / MiB,
        unit: "MiB",
        target: "< 20",
        peakRssMiB: peakPaging / MiB,
        note: `spool file ${(queued.fileBytes / MiB).toFixed(0)} MiB; SQLite's page cache is capped at 16 MiB`,
      },
      { name: "spool read() paging, pages of 500 (records/s)", value: readRate, unit: "records/s" },
    ];
    return rows;
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
};
