import type { NewRecord, OutRecord } from "../record/record.js";
import type { Telemetry } from "../telemetry/telemetry.js";
import { appendOnDiskFull, Blocked, type DiskFullContext, insertAll, SpaceWaiters } from "./append.js";
import { SpoolClock } from "./clock.js";
import { ensureReserve, isCorruption, isDiskFull, moveAside, openDb, restrictFiles } from "./db.js";
import { computeStats, readMeta } from "./stats.js";
import { type Drop, SpoolStore } from "./store.js";
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

/** Housekeeping writes the meta row at most this often while only inserts happen (see store.ts). */
const META_EVERY_MS = 60_000;
/** Free pages are handed back to the file system only once they are worth this much. */
const RECLAIM_MIN_BYTES = 1024 * 1024;

export class SqliteSpool implements SpoolApi {
  private store: SpoolStore;
  private readonly wall: () => number;
  private readonly clock: SpoolClock;
  private readonly space = new SpaceWaiters();
  private closed = false;
  private metaAt = 0;

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
    this.clock = opened.clock;
    this.store.lastSeq = Math.max(this.store.lastSeq, seedSeq);
    this.guard(() => this.tx((s) => s.persistMeta()));
    ensureReserve(opts.dir);
    this.gauges();
  }

  private openStore(mono: () => number): { store: SpoolStore; clock: SpoolClock } {
    const db = openDb(this.opts);
    try {
      const meta = readMeta(db);
      // Meta's clockHigh is written only now and then; the newest row's spool time is a floor too.
      const lastAt = (db.prepare("SELECT at FROM records ORDER BY seq DESC LIMIT 1").pluck().get() ??
        0) as number;
      const clock = new SpoolClock(
        this.wall,
        mono,
        { high: Math.max(meta.clockHigh ?? 0, lastAt), offset: meta.clockOffset ?? 0 },
        (stepMs) => {
          this.opts.telemetry.log.warn({ stepMs }, "wall clock stepped; spool ages keep elapsed time");
          // The new offset must survive a crash, or a restart would undo what it protects.
          this.store.requestMeta();
        },
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
        return this.tx((s) => insertAll(s, this.opts, records, at));
      } catch (err) {
        if (err instanceof Blocked) return this.space.blocked();
        if (!isDiskFull(err)) throw err;
        return appendOnDiskFull(this.diskFullContext(), records, at, err);
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

  /**
   * Read-only unless there is something to do: nothing expired, nothing over maxBytes and meta
   * fresh enough means no transaction, so an idle agent's housekeeping writes nothing.
   */
  enforceRetention(): number {
    return this.guard(() => {
      const s = this.store;
      const now = this.clock.now();
      const cutoff = now - this.opts.maxAgeMs;
      const expired = s.lastBefore(cutoff);
      const trim = this.opts.onFull === "drop-oldest" && s.bytes > this.opts.maxBytes;
      const letters = s.hasDeadLettersBefore(cutoff);
      const meta = s.metaStale && now - this.metaAt >= META_EVERY_MS;
      if (expired === undefined && !trim && !letters && !meta) return 0;
      if (meta) this.metaAt = now;
      return this.tx((st) => {
        let removed = expired === undefined ? 0 : st.deleteUpTo(expired, "max-age");
        if (letters) st.expireDeadLetters(cutoff);
        if (trim) removed += st.trimTo(this.opts.maxBytes);
        if (meta) st.requestMeta();
        return removed;
      });
    });
  }

  /**
   * Cheap when there is little to return, so it can run on every housekeeping tick: free pages are
   * handed back once they are both 1 MiB and a tenth of the file (or the spool is empty), then the
   * WAL is truncated. Below that, inserts reuse the free pages: giving them back and growing the
   * file again would only wear the disk.
   */
  reclaim(): void {
    const vacuumed = this.guard(() => {
      const db = this.store.db;
      const free = db.pragma("freelist_count", { simple: true }) as number;
      const pages = db.pragma("page_count", { simple: true }) as number;
      const size = db.pragma("page_size", { simple: true }) as number;
      const vacuum = free * size >= RECLAIM_MIN_BYTES && (this.store.records === 0 || free >= pages / 10);
      if (!vacuum) return false;
      db.exec("PRAGMA incremental_vacuum");
      db.pragma("wal_checkpoint(TRUNCATE)");
      restrictFiles(this.opts.dir);
      return true;
    });
    // Freed file pages may be what a disk-full condition was waiting for.
    if (vacuumed) this.space.freed();
    ensureReserve(this.opts.dir);
  }

  waitForSpace(timeoutMs: number): Promise<void> {
    return this.space.wait(timeoutMs, this.closed);
  }

  stats(): SpoolStats {
    const known = { lastSeq: this.store.lastSeq, bytes: this.store.bytes };
    const s = this.guard(() => computeStats(this.store.db, this.opts.dir, this.clock.now(), known));
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
      this.space.releaseAll();
    }
  }

  private diskFullContext(): DiskFullContext {
    return {
      store: this.store,
      policy: this.opts,
      dir: this.opts.dir,
      telemetry: this.opts.telemetry,
      tx: (fn) => this.tx(fn),
      blocked: () => this.space.blocked(),
      after: () => {
        try {
          this.store.db.pragma("wal_checkpoint(TRUNCATE)");
        } catch (err) {
          if (!isDiskFull(err)) throw err;
        }
        ensureReserve(this.opts.dir);
      },
    };
  }

  /** A store transaction, then telemetry for what it dropped and freed. */
  private tx<T>(fn: (s: SpoolStore) => T): T {
    const { out, drops, freed } = this.store.tx(() => fn(this.store));
    this.report(drops);
    if (freed) this.space.freed();
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
