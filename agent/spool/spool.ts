import { encodeRecord, type NewRecord, type OutRecord } from "../record/record.js";
import type { Telemetry } from "../telemetry/telemetry.js";
import { SpoolClock } from "./clock.js";
import { type Db, isCorruption, isDiskFull, moveAside, openDb, ROW_OVERHEAD, restrictFiles } from "./db.js";
import { prepareStatements, type Statements } from "./statements.js";
import { computeStats, readMeta } from "./stats.js";
import type { AppendResult, DeadLetter, SpoolApi, SpoolStats } from "./types.js";

export interface SpoolOptions {
  dir: string;
  sync: "normal" | "full";
  maxBytes: number;
  maxAgeMs: number;
  onFull: "drop-oldest" | "drop-newest" | "block";
  telemetry: Telemetry;
  /** Wall clock in epoch ms (default Date.now). */
  now?: () => number;
  /**
   * Monotonic ms, to tell wall-clock steps from elapsed time (see clock.ts). Defaults to
   * performance.now, or to `now` itself when only `now` is injected (then every step is trusted).
   */
  monotonic?: () => number;
  /** Hard cap on the database size in pages; for tests that provoke SQLITE_FULL. */
  maxPageCount?: number;
}

/** After SQLITE_FULL, the byte count at the failure serves as the limit this long before trying more. */
const DISK_FULL_HOLD_MS = 60_000;

class Blocked extends Error {}

export class SqliteSpool implements SpoolApi {
  private db: Db;
  private st: Statements;
  private readonly wall: () => number;
  private readonly clock: SpoolClock;
  private lastSeq = 0;
  private bytes = 0;
  private records = 0;
  private readonly cursors = new Map<string, number>();
  /** Drops counted in the open transaction, reported to telemetry once it commits. */
  private pending: [string, string, number][] = [];
  private freeGen = 0;
  private blockedGen = -1;
  private readonly waiters = new Set<() => void>();
  private diskCap = { bytes: Number.POSITIVE_INFINITY, until: 0 };
  private closed = false;

  constructor(private readonly opts: SpoolOptions) {
    this.wall = opts.now ?? Date.now;
    const mono = opts.monotonic ?? (opts.now ? opts.now : () => performance.now());
    let seedSeq = 0;
    try {
      this.db = openDb(opts);
    } catch (err) {
      if (!isCorruption(err)) throw err;
      this.moveAsideLogged(err);
      this.db = openDb(opts);
      // The old high-water mark is unreadable; epoch µs is above any seq this agent could have used.
      seedSeq = Math.max(0, Math.floor(this.wall()) * 1000);
    }
    this.st = prepareStatements(this.db);
    const meta = readMeta(this.db);
    this.clock = new SpoolClock(
      this.wall,
      mono,
      { high: meta.clockHigh ?? 0, offset: meta.clockOffset ?? 0 },
      (stepMs) => opts.telemetry.log.warn({ stepMs }, "wall clock stepped; spool ages keep elapsed time"),
    );
    this.loadState();
    if (seedSeq > this.lastSeq) this.lastSeq = seedSeq;
    this.tx(() => this.persistMeta());
  }

  append(records: readonly NewRecord[]): AppendResult {
    const result: AppendResult = { stored: 0, duplicates: 0, droppedNewest: 0, blocked: false };
    if (records.length === 0) return result;
    return this.guard(() => {
      const at = this.clock.now();
      try {
        return this.tx(() => this.insertAll(records, at, false));
      } catch (err) {
        if (err instanceof Blocked) return this.blockedResult();
        if (!isDiskFull(err)) throw err;
        return this.onDiskFull(records, at, err);
      }
    });
  }

  setSinks(sinkIds: readonly string[]): void {
    this.guard(() =>
      this.tx(() => {
        const keep = new Set(sinkIds);
        for (const [sink, acked] of this.cursors) {
          if (keep.has(sink)) continue;
          this.st.deleteCursor.run(sink);
          this.st.deleteDrops.run(sink);
          this.cursors.delete(sink);
          this.opts.telemetry.log.info({ sink, cursor: acked }, "sink no longer configured: cursor removed");
        }
        for (const sink of sinkIds) this.ensureCursor(sink);
        this.deleteAcked();
      }),
    );
    this.afterWrite();
  }

  read(afterSeq: number, limit: number, maxBytes = Number.POSITIVE_INFINITY): OutRecord[] {
    return this.guard(() => {
      const out: OutRecord[] = [];
      let total = 0;
      for (const row of this.st.read.iterate(afterSeq, limit) as Iterable<{
        seq: number;
        id: string;
        sensor: string;
        ts: number;
        rx: number;
        body: string;
      }>) {
        if (out.length > 0 && total + row.body.length > maxBytes) break;
        total += row.body.length;
        out.push({
          seq: row.seq,
          id: row.id,
          sensor: row.sensor,
          tsMs: row.ts,
          rxMs: row.rx,
          body: row.body,
        });
      }
      return out;
    });
  }

  cursor(sink: string): number {
    return this.cursors.get(sink) ?? 0;
  }

  ack(sink: string, uptoSeq: number, shipped: number): void {
    if (!Number.isSafeInteger(uptoSeq) || !Number.isSafeInteger(shipped))
      throw new RangeError(`spool.ack(${sink}): expected integers, got ${uptoSeq}, ${shipped}`);
    this.guard(() =>
      this.tx(() => {
        this.ensureCursor(sink);
        const to = Math.min(uptoSeq, this.lastSeq);
        this.st.ackCursor.run(to, shipped, sink);
        this.cursors.set(sink, Math.max(this.cursor(sink), to));
        this.deleteAcked();
      }),
    );
    this.afterWrite();
  }

  deadLetter(sink: string, letters: readonly DeadLetter[]): void {
    if (letters.length === 0) return;
    this.guard(() =>
      this.tx(() => {
        this.ensureCursor(sink);
        const at = this.clock.now();
        for (const l of letters)
          this.st.insertDeadLetter.run(sink, l.record.seq, l.record.id, l.record.body, l.reason, at);
        this.st.addDeadLetterCount.run(letters.length, sink);
        this.countDrop(sink, "dead-letter", letters.length);
      }),
    );
    this.afterWrite();
  }

  countDropped(sink: string, reason: string, n: number): void {
    if (n <= 0) return;
    this.guard(() =>
      this.tx(() => {
        this.ensureCursor(sink);
        this.countDrop(sink, reason, n);
      }),
    );
    this.afterWrite();
  }

  enforceRetention(): number {
    const removed = this.guard(() =>
      this.tx(() => {
        const now = this.clock.now();
        const cutoff = now - this.opts.maxAgeMs;
        let removed = 0;
        if (this.records > 0) {
          const fresh = this.st.firstFresh.get(cutoff) as number | undefined;
          removed += this.deleteUpTo(fresh === undefined ? this.lastSeq : fresh - 1, "max-age");
        }
        this.st.expireDeadLetters.run(cutoff);
        if (this.opts.onFull === "drop-oldest") removed += this.trimTo(this.limit());
        this.persistMeta();
        return removed;
      }),
    );
    this.afterWrite();
    return removed;
  }

  reclaim(): void {
    this.guard(() => {
      this.db.exec("PRAGMA incremental_vacuum");
      this.db.pragma("wal_checkpoint(TRUNCATE)");
      restrictFiles(this.opts.dir);
    });
    // Freed file pages may be what a disk-full condition was waiting for.
    this.diskCap = { bytes: Number.POSITIVE_INFINITY, until: 0 };
    this.freed();
  }

  waitForSpace(timeoutMs: number): Promise<void> {
    if (this.freeGen > this.blockedGen || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.waiters.add(done);
    });
  }

  stats(): SpoolStats {
    const s = this.guard(() => computeStats(this.db, this.opts.dir, this.clock.now()));
    const t = this.opts.telemetry;
    for (const k of s.sinks) {
      t.depth.set({ sink: k.sink }, k.depth);
      t.oldestAge.set({ sink: k.sink }, k.oldestAgeMs / 1000);
    }
    return s;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.tx(() => this.persistMeta());
    } finally {
      this.db.close();
      for (const w of [...this.waiters]) w();
    }
  }

  // ---- inside transactions ----

  private insertAll(records: readonly NewRecord[], at: number, trimFirst: boolean): AppendResult {
    const res: AppendResult = { stored: 0, duplicates: 0, droppedNewest: 0, blocked: false };
    const policy = this.opts.onFull;
    const limit = this.limit();
    const wasEmpty = this.records === 0;
    if (trimFirst) this.trimTo(Math.max(0, limit - estimateBytes(records)));
    let refusing = false;
    for (const r of records) {
      const seq = this.lastSeq + 1;
      const body = encodeRecord({ ...r, seq });
      const size = Buffer.byteLength(body) + ROW_OVERHEAD;
      if (policy === "drop-newest" && (refusing || this.bytes + size > limit)) {
        refusing = true;
        if (this.st.exists.get(r.id) !== undefined) res.duplicates++;
        else res.droppedNewest++;
        continue;
      }
      const info = this.st.insert.run(seq, r.id, r.sensor, msOr(r.rx, at), msOr(r.ts, at), at, body);
      if (info.changes === 0) {
        res.duplicates++;
        continue;
      }
      this.lastSeq = seq;
      this.bytes += size;
      this.records++;
      res.stored++;
    }
    // A batch larger than the whole limit is let into an empty spool, or `block` would never end.
    if (policy === "block" && this.bytes > limit && !wasEmpty) throw new Blocked();
    if (policy === "drop-oldest") this.trimTo(limit);
    if (res.droppedNewest > 0)
      for (const sink of this.cursors.keys()) this.countDrop(sink, "spool-full", res.droppedNewest);
    this.persistMeta();
    return res;
  }

  /** Deletes the oldest records until the byte count is at most `limit`; counted as spool-full. */
  private trimTo(limit: number): number {
    if (this.bytes <= limit || this.records === 0) return 0;
    let excess = this.bytes - limit;
    let upTo = this.lastSeq;
    for (const [seq, size] of this.st.sizesBySeq.iterate() as Iterable<[number, number]>) {
      excess -= size + ROW_OVERHEAD;
      upTo = seq;
      if (excess <= 0) break;
    }
    return this.deleteUpTo(upTo, "spool-full");
  }

  /** Deletes records with seq <= upTo; with a reason, counts them as dropped for every sink that had not acked them. */
  private deleteUpTo(upTo: number, reason: string | null): number {
    const first = this.st.firstSeq.get() as number | null;
    if (first === null || upTo < first) return 0;
    const sum = this.st.sumUpTo.get(upTo) as { n: number; b: number };
    if (reason !== null) {
      for (const [sink, acked] of this.cursors) {
        if (acked >= upTo) continue;
        this.countDrop(sink, reason, this.st.countRange.get(acked, upTo) as number);
      }
    }
    this.st.deleteUpTo.run(upTo);
    this.bytes -= sum.b + sum.n * ROW_OVERHEAD;
    this.records -= sum.n;
    return sum.n;
  }

  /** Deletes what every configured sink has acknowledged. */
  private deleteAcked(): void {
    if (this.cursors.size === 0) return;
    const removed = this.deleteUpTo(Math.min(...this.cursors.values()), null);
    if (removed > 0) this.persistMeta();
  }

  private ensureCursor(sink: string): void {
    if (this.cursors.has(sink)) return;
    this.st.addCursor.run(sink, 0);
    this.cursors.set(sink, 0);
  }

  private countDrop(sink: string, reason: string, n: number): void {
    if (n <= 0) return;
    this.st.addDrop.run(sink, reason, n);
    this.pending.push([sink, reason, n]);
  }

  private persistMeta(): void {
    const c = this.clock.snapshot();
    this.st.setMeta.run(this.lastSeq, "lastSeq");
    this.st.setMeta.run(this.bytes, "bytes");
    this.st.setMeta.run(c.high, "clockHigh");
    this.st.setMeta.run(c.offset, "clockOffset");
  }

  // ---- bookkeeping ----

  private tx<T>(fn: () => T): T {
    this.pending = [];
    const records = this.records;
    const bytes = this.bytes;
    let out: T;
    try {
      out = this.db.transaction(fn).immediate();
    } catch (err) {
      this.pending = [];
      if (!isCorruption(err)) this.loadState();
      throw err;
    }
    for (const [sink, reason, n] of this.pending) this.opts.telemetry.drop(sink, reason, n);
    this.pending = [];
    if (this.records < records || this.bytes < bytes) this.freed();
    return out;
  }

  /** Re-reads the in-memory mirror of the database after a rolled-back transaction. */
  private loadState(): void {
    this.pending = [];
    const meta = readMeta(this.db);
    const range = this.db.prepare("SELECT min(seq) AS first, max(seq) AS last FROM records").get() as {
      first: number | null;
      last: number | null;
    };
    this.lastSeq = Math.max(meta.lastSeq ?? 0, range.last ?? 0);
    this.bytes = meta.bytes ?? 0;
    this.records = range.first === null ? 0 : (range.last ?? 0) - range.first + 1;
    this.cursors.clear();
    for (const c of this.st.cursors.all() as { sink: string; acked: number }[])
      this.cursors.set(c.sink, c.acked);
  }

  private limit(): number {
    if (this.wall() >= this.diskCap.until) this.diskCap = { bytes: Number.POSITIVE_INFINITY, until: 0 };
    return Math.min(this.opts.maxBytes, this.diskCap.bytes);
  }

  private blockedResult(): AppendResult {
    this.blockedGen = this.freeGen;
    return { stored: 0, duplicates: 0, droppedNewest: 0, blocked: true };
  }

  /** SQLITE_FULL: the disk (or max_page_count) is the limit for now; apply onFull against it. */
  private onDiskFull(records: readonly NewRecord[], at: number, err: unknown): AppendResult {
    this.opts.telemetry.warnLimited(
      "spool:disk-full",
      { err: (err as Error).message, bytes: this.bytes },
      "spool disk full: applying onFull against the space there is",
    );
    this.diskCap = { bytes: this.bytes, until: this.wall() + DISK_FULL_HOLD_MS };
    if (this.opts.onFull === "block") return this.blockedResult();
    if (this.opts.onFull === "drop-oldest" && this.records > 0) {
      try {
        return this.tx(() => this.insertAll(records, at, true));
      } catch (again) {
        if (!isDiskFull(again)) throw again;
      }
    }
    this.tx(() => {
      for (const sink of this.cursors.keys()) this.countDrop(sink, "spool-full", records.length);
    });
    return { stored: 0, duplicates: 0, droppedNewest: records.length, blocked: false };
  }

  private afterWrite(): void {
    this.opts.telemetry.spoolBytes.set(this.bytes);
    this.opts.telemetry.spoolRecords.set(this.records);
  }

  private freed(): void {
    this.freeGen++;
    for (const w of [...this.waiters]) w();
  }

  /** Runs fn; if SQLite reports the file corrupt, moves it aside, starts fresh and runs fn once more. */
  private guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (!isCorruption(err)) throw err;
      this.recover(err);
      return fn();
    }
  }

  private recover(err: unknown): void {
    const lastSeq = this.lastSeq;
    const cursors = [...this.cursors];
    try {
      this.db.close();
    } catch {
      // already unusable
    }
    this.moveAsideLogged(err);
    this.db = openDb(this.opts);
    this.st = prepareStatements(this.db);
    this.loadState();
    this.lastSeq = lastSeq;
    this.tx(() => {
      for (const [sink, acked] of cursors) {
        this.ensureCursor(sink);
        this.st.setCursor.run(lastSeq, sink);
        this.cursors.set(sink, lastSeq);
        this.countDrop(sink, "spool-corrupt", lastSeq - acked);
      }
      this.persistMeta();
    });
  }

  private moveAsideLogged(err: unknown): void {
    const movedTo = moveAside(this.opts.dir, this.wall());
    this.opts.telemetry.log.error(
      { err: (err as Error).message, code: (err as { code?: string }).code, movedTo },
      "spool database is corrupt: moved aside, starting a fresh spool",
    );
  }
}

function msOr(iso: string, fallback: number): number {
  const ms = Date.parse(iso);
  return Number.isFinite(ms) ? ms : fallback;
}

function estimateBytes(records: readonly NewRecord[]): number {
  let n = 0;
  for (const r of records)
    n += Buffer.byteLength(encodeRecord({ ...r, seq: Number.MAX_SAFE_INTEGER })) + ROW_OVERHEAD;
  return n;
}
