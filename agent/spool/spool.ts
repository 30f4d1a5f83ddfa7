import type { NewRecord, OutRecord } from "../record/record.js";
import type { Telemetry } from "../telemetry/telemetry.js";
import { SpoolClock } from "./clock.js";
import {
  ensureReserve,
  isCorruption,
  isDiskFull,
  moveAside,
  openDb,
  releaseReserve,
  restrictFiles,
  walBytes,
} from "./db.js";
import { computeStats, readMeta } from "./stats.js";
import { type Drop, SpoolStore } from "./store.js";
import {
  type AppendResult,
  type DeadLetter,
  OUTCOME_DROPPED,
  OUTCOME_DUPLICATE,
  OUTCOME_STORED,
  type Settlement,
  type SpoolApi,
  type SpoolStats,
} from "./types.js";

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
  /** `spool.key`: encrypt the database at rest (see cipher.ts). */
  key?: string | undefined;
  /** Most bytes dead letters may take; the oldest are deleted beyond it (default maxBytes / 10). */
  deadLetterMaxBytes?: number;
}

class Blocked extends Error {}

export class SqliteSpool implements SpoolApi {
  private store: SpoolStore;
  private readonly wall: () => number;
  private readonly clock: SpoolClock;
  private freeGen = 0;
  private blockedGen = -1;
  private readonly waiters = new Set<() => void>();
  private closed = false;

  constructor(private readonly opts: SpoolOptions) {
    this.wall = opts.now ?? Date.now;
    const mono = opts.monotonic ?? (opts.now ? opts.now : () => performance.now());
    let seedSeq = 0;
    let opened: { store: SpoolStore; clock: SpoolClock };
    try {
      opened = this.openStore(mono);
    } catch (err) {
      if (!isCorruption(err)) throw err;
      this.moveAsideLogged(err);
      opened = this.openStore(mono);
      // The old high-water mark is unreadable; epoch µs is above any seq this agent could have used.
      seedSeq = Math.max(0, Math.floor(this.wall()) * 1000);
    }
    this.store = opened.store;
    this.store.deadLetterLimit = this.deadLetterLimit;
    this.clock = opened.clock;
    this.store.lastSeq = Math.max(this.store.lastSeq, seedSeq);
    this.guard(() => this.tx((s) => s.persistMeta()));
    ensureReserve(opts.dir);
    this.gauges();
  }

  private get deadLetterLimit(): number {
    return this.opts.deadLetterMaxBytes ?? Math.floor(this.opts.maxBytes / 10);
  }

  private openStore(mono: () => number): { store: SpoolStore; clock: SpoolClock } {
    const db = openDb(this.opts);
    try {
      const meta = readMeta(db);
      const clock = new SpoolClock(
        this.wall,
        mono,
        { high: meta.clockHigh ?? 0, offset: meta.clockOffset ?? 0 },
        (stepMs) =>
          this.opts.telemetry.log.warn({ stepMs }, "wall clock stepped; spool ages keep elapsed time"),
      );
      return { store: new SpoolStore(db, () => clock.snapshot()), clock };
    } catch (err) {
      db.close();
      throw err;
    }
  }

  append(records: readonly NewRecord[]): AppendResult {
    if (records.length === 0) return { stored: 0, duplicates: 0, droppedNewest: 0, blocked: false };
    return this.guard(() => {
      const at = this.clock.now();
      try {
        return this.tx(() => this.insertAll(records, at));
      } catch (err) {
        if (err instanceof Blocked) return this.blockedResult();
        if (!isDiskFull(err)) throw err;
        return this.onDiskFull(records, at, err);
      }
    });
  }

  setSinks(sinkIds: readonly string[]): void {
    this.guard(() =>
      this.tx((s) => {
        const keep = new Set(sinkIds);
        for (const [sink, cursor] of s.cursors) {
          if (keep.has(sink)) continue;
          s.removeSink(sink);
          this.opts.telemetry.log.info({ sink, cursor }, "sink no longer configured: cursor removed");
        }
        for (const sink of sinkIds) s.ensureCursor(sink);
        s.deleteAcked();
      }),
    );
  }

  read(afterSeq: number, limit: number, maxBytes = Number.POSITIVE_INFINITY): OutRecord[] {
    return this.guard(() => this.store.read(afterSeq, limit, maxBytes));
  }

  cursor(sink: string): number {
    return this.store.cursors.get(sink) ?? 0;
  }

  ack(sink: string, uptoSeq: number, shipped: number): void {
    if (!Number.isSafeInteger(uptoSeq) || !Number.isSafeInteger(shipped))
      throw new RangeError(`spool.ack(${sink}): expected integers, got ${uptoSeq}, ${shipped}`);
    this.guard(() => this.tx((s) => s.ack(sink, uptoSeq, shipped)));
  }

  settle(sink: string, settlement: Settlement): { shipped: number; deadLetters: number } {
    if (!Number.isSafeInteger(settlement.upTo))
      throw new RangeError(`spool.settle(${sink}): expected an integer seq, got ${settlement.upTo}`);
    const run = () => this.guard(() => this.tx((s) => s.settle(sink, settlement, this.clock.now())));
    try {
      return run();
    } catch (err) {
      // In WAL mode even an ack needs room to write: give back the reserve and try once more (the
      // next housekeeping tick takes it again once there is space). The caller retries beyond that.
      if (!isDiskFull(err) || !releaseReserve(this.opts.dir)) throw err;
      return run();
    }
  }

  deadLetter(sink: string, letters: readonly DeadLetter[]): void {
    if (letters.length === 0) return;
    this.guard(() => this.tx((s) => s.deadLetter(sink, letters, this.clock.now())));
  }

  countDropped(sink: string, reason: string, n: number): void {
    if (n <= 0) return;
    this.guard(() =>
      this.tx((s) => {
        s.ensureCursor(sink);
        s.countDrop(sink, reason, n);
      }),
    );
  }

  enforceRetention(): number {
    return this.guard(() =>
      this.tx((s) => {
        const cutoff = this.clock.now() - this.opts.maxAgeMs;
        const expired = s.lastBefore(cutoff);
        let removed = expired === undefined ? 0 : s.deleteUpTo(expired, "max-age");
        s.expireDeadLetters(cutoff);
        s.trimDeadLetters(this.deadLetterLimit);
        if (this.opts.onFull === "drop-oldest") removed += s.trimTo(this.opts.maxBytes);
        s.persistMeta();
        return removed;
      }),
    );
  }

  /**
   * Cheap when there is little to return, so it can run on every housekeeping tick: free pages are
   * handed back once they are both 1 MiB and a tenth of the file (256 KiB when the spool is empty), and the WAL
   * truncated once it passed 4 MiB, since inserts reuse free pages anyway.
   */
  reclaim(): void {
    const vacuumed = this.guard(() => {
      const db = this.store.db;
      const free = db.pragma("freelist_count", { simple: true }) as number;
      const pages = db.pragma("page_count", { simple: true }) as number;
      const vacuum = this.store.records === 0 ? free >= 64 : free >= 256 && free >= pages / 10;
      if (vacuum) db.exec("PRAGMA incremental_vacuum");
      if (vacuum || walBytes(this.opts.dir) > 4 * 1024 * 1024) {
        db.pragma("wal_checkpoint(TRUNCATE)");
        restrictFiles(this.opts.dir);
      }
      return vacuum;
    });
    // Freed file pages may be what a disk-full condition was waiting for.
    if (vacuumed) this.freed();
    ensureReserve(this.opts.dir);
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
    const s = this.guard(() => computeStats(this.store.db, this.opts.dir, this.clock.now()));
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
      this.tx((s) => s.persistMeta());
    } catch (err) {
      // Every commit already persisted what matters; this only saves the clock's latest reading.
      this.opts.telemetry.log.warn({ err: (err as Error).message }, "spool close: final meta write failed");
    } finally {
      this.store.db.close();
      for (const w of [...this.waiters]) w();
    }
  }

  /**
   * One group commit under the onFull policy; runs inside a transaction. `roomFactor` (after
   * SQLITE_FULL): first delete the oldest records worth that many times this batch.
   */
  private insertAll(records: readonly NewRecord[], at: number, roomFactor = 0): AppendResult {
    const s = this.store;
    const outcomes = new Uint8Array(records.length);
    const res: AppendResult = { stored: 0, duplicates: 0, droppedNewest: 0, blocked: false, outcomes };
    const policy = this.opts.onFull;
    const limit = this.opts.maxBytes;
    const wasEmpty = s.records === 0;
    if (roomFactor > 0) {
      let incoming = 0;
      for (const r of records) incoming += s.encode(r).size;
      s.trimTo(Math.max(0, Math.min(limit, s.bytes) - roomFactor * incoming));
    }
    let refusing = false;
    records.forEach((r, i) => {
      const e = s.encode(r);
      let dup: boolean;
      if (policy === "drop-newest" && (refusing || s.bytes + e.size > limit)) {
        refusing = true;
        dup = s.exists(r.id);
        if (!dup) {
          res.droppedNewest++;
          outcomes[i] = OUTCOME_DROPPED;
          return;
        }
      } else dup = !s.insert(r, e, at);
      if (dup) res.duplicates++;
      else res.stored++;
      outcomes[i] = dup ? OUTCOME_DUPLICATE : OUTCOME_STORED;
    });
    // A batch larger than the whole limit is let into an empty spool, or `block` would never end.
    if (policy === "block" && s.bytes > limit && !wasEmpty) throw new Blocked();
    if (policy === "drop-oldest") s.trimTo(limit);
    if (res.droppedNewest > 0)
      for (const sink of s.cursors.keys()) s.countDrop(sink, "spool-full", res.droppedNewest);
    s.persistMeta();
    return res;
  }

  /**
   * SQLITE_FULL: the disk (or max_page_count) is the limit for this batch. drop-oldest makes
   * growing room and retries up to three times; otherwise the batch is refused or blocked. No limit is remembered: the next
   * batch tries again, so space freed on the disk is used at once.
   */
  private onDiskFull(records: readonly NewRecord[], at: number, err: unknown): AppendResult {
    const s = this.store;
    this.opts.telemetry.warnLimited(
      "spool:disk-full",
      { err: (err as Error).message, bytes: s.bytes },
      "spool disk full: applying onFull against the space there is",
    );
    if (this.opts.onFull === "block") return this.blockedResult();
    // Even deleting needs room in WAL mode: give back the reserve, make room, checkpoint the WAL
    // into the pages just freed, and take the reserve again once there is space for it.
    releaseReserve(this.opts.dir);
    // Deleted rows free whole pages only now and then, so make room for a multiple of the batch,
    // growing until it fits.
    for (const factor of [2, 8, 32]) {
      if (this.opts.onFull !== "drop-oldest" || s.records === 0) break;
      try {
        const res = this.tx(() => this.insertAll(records, at, factor));
        this.afterDiskFull();
        return res;
      } catch (again) {
        if (!isDiskFull(again)) throw again;
      }
    }
    try {
      this.tx(() => {
        for (const sink of s.cursors.keys()) s.countDrop(sink, "spool-full", records.length);
      });
    } catch (again) {
      if (!isDiskFull(again)) throw again;
      // Not even the counters fit: the drop is still counted in metrics and logged.
      for (const sink of s.cursors.keys())
        this.opts.telemetry.drop(sink, "spool-full", records.length, "disk full");
    }
    this.afterDiskFull();
    return {
      stored: 0,
      duplicates: 0,
      droppedNewest: records.length,
      blocked: false,
      outcomes: new Uint8Array(records.length).fill(OUTCOME_DROPPED),
    };
  }

  private afterDiskFull(): void {
    try {
      this.store.db.pragma("wal_checkpoint(TRUNCATE)");
    } catch (err) {
      if (!isDiskFull(err)) throw err;
    }
    ensureReserve(this.opts.dir);
  }

  /** A store transaction, then telemetry for what it dropped and freed. */
  private tx<T>(fn: (s: SpoolStore) => T): T {
    const { out, drops, evicted, freed } = this.store.tx(() => fn(this.store));
    this.report(drops);
    for (const [sink, n] of evicted) this.opts.telemetry.deadLettersEvicted(sink, n);
    if (freed) this.freed();
    this.gauges();
    return out;
  }

  private report(drops: readonly Drop[]): void {
    for (const [sink, reason, n] of drops) this.opts.telemetry.drop(sink, reason, n);
  }

  private gauges(): void {
    this.opts.telemetry.spoolBytes.set(this.store.bytes);
    this.opts.telemetry.spoolRecords.set(this.store.records);
  }

  private blockedResult(): AppendResult {
    this.blockedGen = this.freeGen;
    return { stored: 0, duplicates: 0, droppedNewest: 0, blocked: true };
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

  /** Mid-run corruption: a fresh file, seq continuing, and what sinks had not shipped counted as lost. */
  private recover(err: unknown): void {
    const { lastSeq } = this.store;
    const cursors = [...this.store.cursors];
    try {
      this.store.db.close();
    } catch {
      // already unusable
    }
    this.moveAsideLogged(err);
    this.store = new SpoolStore(openDb(this.opts), () => this.clock.snapshot());
    this.store.deadLetterLimit = this.deadLetterLimit;
    this.store.lastSeq = lastSeq;
    this.tx((s) => {
      s.resetCursors(lastSeq, "spool-corrupt", cursors);
      s.persistMeta();
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
