import type { NewRecord, OutRecord } from "../record/record.js";
import {
  afterDiskFull,
  appendOnDiskFull,
  Blocked,
  type DiskFullContext,
  insertAll,
  SpaceWaiters,
} from "./append.js";
import { SpoolClock } from "./clock.js";
import { applyRetention, META_EVERY_MS, metaOnly, planRetention, reclaimPages } from "./housekeeping.js";
import { ensureReserve, isCorruption, isDiskFull, moveAside, openDb, releaseReserve } from "./db.js";
import { computeStats, readMeta } from "./stats.js";
import { type Drop, SpoolStore } from "./store.js";
import type { AppendResult, DeadLetter, Settlement, SpoolApi, SpoolOptions, SpoolStats } from "./types.js";

export type { SpoolOptions };

export class SqliteSpool implements SpoolApi {
  private store: SpoolStore;
  private readonly wall: () => number;
  private readonly clock: SpoolClock;
  private readonly space = new SpaceWaiters();
  private readonly listeners = new Set<(stored: number) => void>();
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
    this.store.letters.limit = this.deadLetterLimit;
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

  onCommit(listener: (stored: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  append(records: readonly NewRecord[]): AppendResult {
    if (records.length === 0) return { stored: 0, duplicates: 0, droppedNewest: 0, blocked: false };
    const res = this.appendNow(records);
    if (res.stored > 0) for (const l of this.listeners) l(res.stored);
    return res;
  }

  private appendNow(records: readonly NewRecord[]): AppendResult {
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

  /** Reads only, unless something expired, is over a limit or meta is due (housekeeping.ts). */
  enforceRetention(): number {
    return this.guard(() => {
      const now = this.clock.now();
      const limits = { ...this.opts, deadLetterLimit: this.deadLetterLimit };
      const plan = planRetention(this.store, limits, now, now - this.metaAt >= META_EVERY_MS);
      if (!plan) return 0;
      if (plan.meta) this.metaAt = now;
      try {
        return this.tx((s) => applyRetention(s, plan, this.opts.maxBytes, this.deadLetterLimit));
      } catch (err) {
        // Meta alone is only a shortcut for the next open: a full disk is no reason to fail.
        if (isDiskFull(err) && metaOnly(plan)) return 0;
        throw err;
      }
    });
  }

  /** Cheap unless there is space worth returning, so it can run on every housekeeping tick. */
  reclaim(): void {
    const vacuumed = this.guard(() => reclaimPages(this.store.db, this.opts.dir, this.store.records === 0));
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
      // Meta can be derived from the rows at the next open; this saves the clock's latest reading
      // and spares that open a scan.
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
      after: () => afterDiskFull(this.store.db, this.opts.dir),
    };
  }

  /** A store transaction, then telemetry for what it dropped and freed. */
  private tx<T>(fn: (s: SpoolStore) => T): T {
    const { out, drops, evicted, refused, freed } = this.store.tx(() => fn(this.store));
    this.report(drops);
    this.opts.telemetry.spoolRefused(refused);
    for (const [sink, n] of evicted) this.opts.telemetry.deadLettersEvicted(sink, n);
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
    this.store.letters.limit = this.deadLetterLimit;
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
