import { encodeRecord, type NewRecord, type OutRecord } from "../record/record.js";
import type { ClockState } from "./clock.js";
import { DeadLetters } from "./dead-letters.js";
import { type Db, isCorruption, ROW_OVERHEAD } from "./db.js";
import { msOr, readRows } from "./rows.js";
import { prepareStatements, type Statements } from "./statements.js";
import { bytesAfter, readMeta } from "./stats.js";
import type { DeadLetter, Settlement } from "./types.js";

export interface Encoded {
  seq: number;
  body: string;
  /** Bytes counted against maxBytes. */
  size: number;
}

/** A drop counted inside a transaction, reported to telemetry once it commits. */
export type Drop = [sink: string, reason: string, n: number];

/** Dead letters deleted to keep their table within its bound, per sink, reported once committed. */
export type Eviction = [sink: string, n: number];

/**
 * One connection's rows and the in-memory mirror of its bookkeeping (last seq, byte and record
 * counts, cursors). Methods other than `tx`, `read` and `exists` must run inside `tx`; a failed
 * transaction reloads the mirror from the database so the two never disagree.
 */
export class SpoolStore {
  private readonly st: Statements;
  lastSeq = 0;
  bytes = 0;
  records = 0;
  /** lastSeq as of the last meta write; -1 when unknown. */
  private persistedSeq = -1;
  /** Rows were deleted in the current transaction, so meta must be written in it. */
  private deleted = false;
  /** Meta is to be written in the next transaction (a clock step, housekeeping). */
  private metaDue = false;
  readonly cursors = new Map<string, number>();
  readonly letters: DeadLetters;
  /**
   * Per sink, the highest seq that retention (or corruption recovery) deleted and counted as
   * dropped before the sink acknowledged it. A batch already read when that happened may still
   * ship: `settle` does not count its records at or below this fence again, so each record is
   * counted once, as dropped. In memory only: no batch is in flight across a restart.
   */
  private lostThrough = new Map<string, number>();
  private pending: Drop[] = [];
  private evicted: Eviction[] = [];
  /** Readings refused in the current transaction (see `countRefused`). */
  private refusedNow = 0;

  constructor(
    readonly db: Db,
    private readonly clock: () => ClockState,
  ) {
    this.st = prepareStatements(db);
    this.letters = new DeadLetters(this.st, (sink, n) => this.evicted.push([sink, n]));
    this.loadState();
  }

  /**
   * Runs fn in one IMMEDIATE transaction; returns its result and the drops it counted. The meta
   * row is written only in a transaction that deleted rows (and by `persistMeta` callers): an
   * insert changes nothing there that `loadState` cannot derive from the rows themselves, and
   * skipping it spares one page in every group commit.
   */
  tx<T>(fn: () => T): { out: T; drops: Drop[]; evicted: Eviction[]; refused: number; freed: boolean } {
    this.pending = [];
    this.evicted = [];
    this.refusedNow = 0;
    const before = { records: this.records, bytes: this.bytes, lost: new Map(this.lostThrough) };
    try {
      const out = this.db
        .transaction(() => {
          this.deleted = false;
          const r = fn();
          if (this.deleted || this.metaDue) this.persistMeta();
          return r;
        })
        .immediate();
      const drops = this.pending;
      const evicted = this.evicted;
      const refused = this.refusedNow;
      this.pending = [];
      this.evicted = [];
      this.refusedNow = 0;
      return {
        out,
        drops,
        evicted,
        refused,
        freed: this.records < before.records || this.bytes < before.bytes,
      };
    } catch (err) {
      this.pending = [];
      this.evicted = [];
      this.lostThrough = before.lost;
      if (!isCorruption(err)) this.loadState();
      throw err;
    }
  }

  /**
   * Meta holds lastSeq and bytes as of the last transaction that deleted rows (or the last
   * `persistMeta`); rows inserted since have higher seqs, so the true figures are meta's plus
   * theirs — a bounded scan, since housekeeping persists meta at least once a minute.
   */
  loadState(): void {
    const meta = readMeta(this.db);
    const range = this.db.prepare("SELECT min(seq) AS first, max(seq) AS last FROM records").get() as {
      first: number | null;
      last: number | null;
    };
    this.lastSeq = Math.max(meta.lastSeq ?? 0, range.last ?? 0);
    this.bytes = (meta.bytes ?? 0) + bytesAfter(this.db, meta.lastSeq ?? 0);
    this.persistedSeq = this.lastSeq === (meta.lastSeq ?? 0) ? this.lastSeq : -1;
    this.records = range.first === null ? 0 : (range.last ?? 0) - range.first + 1;
    this.cursors.clear();
    for (const c of this.st.cursors.all() as { sink: string; acked: number }[])
      this.cursors.set(c.sink, c.acked);
    this.letters.load();
  }

  /** True when rows were stored since meta was last written (housekeeping then persists it). */
  get metaStale(): boolean {
    return this.persistedSeq !== this.lastSeq;
  }

  requestMeta(): void {
    this.metaDue = true;
  }

  persistMeta(): void {
    this.metaDue = false;
    this.persistedSeq = this.lastSeq;
    const c = this.clock();
    this.st.setMeta.run(this.lastSeq, "lastSeq");
    this.st.setMeta.run(this.bytes, "bytes");
    this.st.setMeta.run(c.high, "clockHigh");
    this.st.setMeta.run(c.offset, "clockOffset");
  }

  /** The record's canonical line with the seq it gets if stored now. */
  encode(r: NewRecord): Encoded {
    const seq = this.lastSeq + 1;
    const body = encodeRecord(r, seq);
    return { seq, body, size: Buffer.byteLength(body) + ROW_OVERHEAD };
  }

  /** Inserts unless the id is already spooled; false for a duplicate (its seq stays unused). */
  insert(r: NewRecord, e: Encoded, at: number): boolean {
    const rx = msOr(r.rx, at);
    const ts = r.ts === r.rx ? rx : msOr(r.ts, at);
    if (this.st.insert.run(e.seq, r.id, r.sensor, rx, ts, at, e.body).changes === 0) return false;
    this.lastSeq = e.seq;
    this.bytes += e.size;
    this.records++;
    return true;
  }

  exists(id: string): boolean {
    return this.st.exists.get(id) !== undefined;
  }

  read(afterSeq: number, limit: number, maxBytes: number): OutRecord[] {
    return readRows(this.st, afterSeq, limit, maxBytes);
  }

  /** The last seq received before `cutoff` (spool time), when the oldest records are that old. */
  lastBefore(cutoff: number): number | undefined {
    if (this.records === 0) return undefined;
    const fresh = this.st.firstFresh.get(cutoff) as number | undefined;
    return fresh === undefined ? this.lastSeq : fresh - 1;
  }

  /** Deletes the oldest records until the byte count is at most `limit`; counted as spool-full. */
  trimTo(limit: number): number {
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

  /** Deletes records with seq <= upTo; with a reason, counts them as dropped for each sink that had not acked them. */
  deleteUpTo(upTo: number, reason: string | null): number {
    const first = this.st.firstSeq.get() as number | null;
    if (first === null || upTo < first) return 0;
    const sum = this.st.sumUpTo.get(upTo) as { n: number; b: number };
    if (reason !== null) {
      for (const [sink, acked] of this.cursors) {
        if (acked >= upTo) continue;
        this.countDrop(sink, reason, this.st.countRange.get(acked, upTo) as number);
        this.lostThrough.set(sink, Math.max(this.lostThrough.get(sink) ?? 0, upTo));
      }
    }
    this.st.deleteUpTo.run(upTo);
    this.deleted = true;
    this.bytes -= sum.b + sum.n * ROW_OVERHEAD;
    this.records -= sum.n;
    return sum.n;
  }

  /** Deletes what every configured sink has acknowledged. */
  deleteAcked(): void {
    if (this.cursors.size === 0) return;
    this.deleteUpTo(Math.min(...this.cursors.values()), null);
  }

  ensureCursor(sink: string): void {
    if (this.cursors.has(sink)) return;
    this.st.addCursor.run(sink, 0);
    this.cursors.set(sink, 0);
  }

  removeSink(sink: string): void {
    this.st.deleteCursor.run(sink);
    this.st.deleteDrops.run(sink);
    this.cursors.delete(sink);
  }

  ack(sink: string, uptoSeq: number, shipped: number): void {
    this.ensureCursor(sink);
    const to = Math.min(uptoSeq, this.lastSeq);
    this.st.ackCursor.run(to, shipped, sink);
    const cursor = Math.max(this.cursors.get(sink) ?? 0, to);
    this.cursors.set(sink, cursor);
    if ((this.lostThrough.get(sink) ?? 0) <= cursor) this.lostThrough.delete(sink);
    this.deleteAcked();
  }

  /**
   * One batch's outcome in one transaction: what the sink accepted, refused and what transforms
   * dropped, then the cursor. Records at or below the sink's cursor or its retention fence were
   * already counted and are not counted again, so retrying a settle that failed, or settling a
   * batch that retention overtook, keeps shipped + dropped + depth equal to what was stored.
   */
  settle(sink: string, s: Settlement, at: number): { shipped: number; deadLetters: number } {
    this.ensureCursor(sink);
    const fence = Math.max(this.cursors.get(sink) ?? 0, this.lostThrough.get(sink) ?? 0);
    const live = (seq: number) => seq > fence;
    let shipped = 0;
    for (const seq of s.shipped) if (live(seq)) shipped++;
    for (const d of s.dropped)
      this.countDrop(sink, d.reason, d.seqs ? d.seqs.filter(live).length : Math.max(0, d.n ?? 0));
    const letters = s.deadLetters.filter((l) => live(l.record.seq));
    if (letters.length > 0) this.deadLetter(sink, letters, at);
    this.ack(sink, s.upTo, shipped);
    return { shipped, deadLetters: letters.length };
  }

  /** Moves every cursor to `seq` (after a fresh start), counting what they had not shipped as `reason`. */
  resetCursors(seq: number, reason: string, previous: readonly [string, number][]): void {
    for (const [sink, acked] of previous) {
      this.ensureCursor(sink);
      this.st.setCursor.run(seq, sink);
      this.cursors.set(sink, seq);
      this.countDrop(sink, reason, seq - acked);
      this.lostThrough.set(sink, Math.max(this.lostThrough.get(sink) ?? 0, seq));
    }
  }

  deadLetter(sink: string, letters: readonly DeadLetter[], at: number): void {
    this.ensureCursor(sink);
    this.letters.add(sink, letters, at);
    this.countDrop(sink, "dead-letter", letters.length);
  }

  /**
   * Readings refused because the spool or the disk is full (drop-newest, or a batch that found no
   * room). They were never stored and got no seq, so no sink counts them: counting them as a
   * sink's drop would break shipped + dropped + depth = stored. Counted spool-wide in meta
   * `refused` instead.
   */
  countRefused(n: number): void {
    if (n <= 0) return;
    this.st.addMeta.run("refused", n);
    this.refusedNow += n;
  }

  countDrop(sink: string, reason: string, n: number): void {
    if (n <= 0) return;
    this.st.addDrop.run(sink, reason, n);
    this.pending.push([sink, reason, n]);
  }
}
