import { type CanonicalRecord, decodeRecord, type OutRecord } from "../../record/record.js";
import type { Transform } from "../transform.js";
import { FutureGuard, MAX_CALL_GAP_MS, SteppedClock } from "./clock.js";
import { DueQueue } from "./due-queue.js";
import { addToWindow, openWindow, type Window, windowRecord, windowStart } from "./window.js";

export { MAX_FUTURE_MS } from "./clock.js";

/**
 * Tumbling windows per sensor on event time (`tsMs`).
 *
 * When a window closes: each sensor has a watermark, the highest event time seen from it. A
 * window [start, end) closes once watermark >= end + allowedLatenessMs. Closing on event time,
 * not on the wall clock, matters during a backlog replay after an outage: hours of old records
 * stream through in seconds and must fill their windows, not arrive "late" into closed ones.
 * A sensor that went silent must still get its last window out, also while other sensors keep
 * the shipper busy (a sink that never catches up would otherwise hold the cursor behind that
 * window for good). Two clocks do that:
 * - Stream time, under load: the records arrive in seq order, which is receive order, so once the
 *   stream has moved on by some receive time since a sensor's newest record, everything that
 *   sensor sent up to then has been seen. Its watermark advances to its newest ts plus that
 *   stream time (the sum of receive-time gaps between consecutive records, each clamped to
 *   [0, MAX_CALL_GAP_MS] so a wall-clock step at ingest counts only as the clamp). It is
 *   replay-safe: hours of backlog streamed in seconds advance it by their receive times, not by
 *   the seconds it took, and replaying from heldSeq closes each window at the same record again.
 * - Wall time, when idle: `flush(now)`, called when there is nothing left to read,
 *   advances the watermark to the
 * sensor's newest ts plus the time elapsed since that record was received. Elapsed time is not
 * `now - rx`: NTP may have stepped the wall clock since, and a forward step would close the open
 * windows early and drop the next hours of readings as late. It is summed from the gaps between
 * the calls' `now`, each clamped to [0, MAX_CALL_GAP_MS] (SteppedClock): the shipper calls about
 * once a second, so a bigger gap is a step and counts only as the clamp. Device clock skew drops
 * out (event time advances as fast as elapsed time, whatever the device's offset). Without a
 * clock reading before the record (process called with now 0), `now - rx` is trusted once.
 *
 * Late records: a record whose window already closed (end + allowedLatenessMs <= watermark) is
 * not merged into an already-shipped aggregate; it is dropped and counted: `dropped` (per call,
 * for the pipeline's drop counter, like the filter's) and `lateTotal` (since start). Records
 * whose body is not a record with a finite temperature, or whose event time is more than a day
 * ahead of its receive time (MAX_FUTURE_MS) without another clock vouching for it (FutureGuard:
 * the agent's own clock may be the wrong one), are dropped and counted the same way.
 *
 * Crash safety: `heldSeq()` is the lowest seq the sink cursor must not pass. It is the lowest
 * seq of any open window, lowered further to the first seq of any already-emitted window that
 * straddles it, so that a replay from heldSeq recomputes every window it touches in full (same
 * input, same id, same body) and never a partial window under an already-used id.
 * Known limit: a late record dropped after a wall-clock or stream-time close may, after a crash, land in a
 * recomputed window instead; it carries the same id, and consumers keep the first copy.
 */

export interface AggregateOptions {
  windowMs: number;
  allowedLatenessMs: number;
  stats: readonly ("count" | "min" | "max" | "mean" | "last")[];
}

interface SensorState {
  /** Highest event time seen (or estimated when idle); -Infinity before the first record. */
  watermark: number;
  /** Highest event time seen in a record, and that record's rx. */
  maxTs: number;
  maxRx: number;
  /** clock.elapsed when the maxTs record was received; undefined until the clock is known. */
  seenAt: number | undefined;
  /** Stream time when the maxTs record was read. */
  streamSeen: number;
  /** Stream time at which its earliest open window is due, as queued in `due`. */
  dueAt: number | undefined;
  /** Open windows by start. */
  open: Map<number, Window>;
}

export class AggregateTransform implements Transform {
  readonly name = "aggregate";
  dropped = 0;
  /** Seqs of the records the last call dropped (late or invalid), for exact accounting. */
  droppedSeqs: number[] = [];
  lateTotal = 0;
  private readonly sensors = new Map<string, SensorState>();
  /** Emitted windows whose seq range may still straddle heldSeq. */
  private emitted: { minSeq: number; maxSeq: number }[] = [];
  private readonly clock = new SteppedClock();
  private readonly future = new FutureGuard();
  /** Stream time: clamped receive-time gaps summed over the records seen, in seq order. */
  private streamMs = 0;
  private lastRx: number | undefined;
  private readonly due = new DueQueue<string>();

  constructor(
    private readonly agentId: string,
    private readonly opt: AggregateOptions,
  ) {
    if (!(opt.windowMs > 0)) throw new Error("aggregate: windowMs must be positive");
  }

  process(batch: readonly OutRecord[], nowMs = 0): OutRecord[] {
    this.dropped = 0;
    this.droppedSeqs = [];
    this.clock.tick(nowMs);
    const out: OutRecord[] = [];
    for (const r of batch) this.add(r, out, nowMs);
    return out;
  }

  /** A sensor's watermark by stream time: its newest ts plus the stream time since it was read. */
  private streamWatermark(st: SensorState): number {
    return st.maxTs + (this.streamMs - st.streamSeen);
  }

  /** Queues when stream time will close this sensor's earliest open window. */
  private schedule(sensor: string, st: SensorState): void {
    let first = Number.POSITIVE_INFINITY;
    for (const start of st.open.keys()) first = Math.min(first, start);
    if (first === Number.POSITIVE_INFINITY) return;
    const closesAt = st.streamSeen + (first + this.opt.windowMs + this.opt.allowedLatenessMs - st.maxTs);
    // An entry already queued for no later is enough: when it pops, the time is recomputed.
    if (st.dueAt !== undefined && st.dueAt <= closesAt) return;
    st.dueAt = closesAt;
    this.due.push(closesAt, sensor);
  }

  /** Advances stream time by one record's receive time and closes the windows it makes due. */
  private advanceStream(rxMs: number, out: OutRecord[]): void {
    if (this.lastRx !== undefined)
      this.streamMs += Math.min(Math.max(rxMs - this.lastRx, 0), MAX_CALL_GAP_MS);
    this.lastRx = rxMs;
    for (let e = this.due.popDue(this.streamMs); e; e = this.due.popDue(this.streamMs)) {
      const st = this.sensors.get(e.key);
      if (!st || st.dueAt !== e.at) continue; // stale: rescheduled since
      st.dueAt = undefined;
      st.watermark = Math.max(st.watermark, this.streamWatermark(st));
      this.closeDue(e.key, st, out);
      this.schedule(e.key, st);
    }
  }

  flush(nowMs: number): OutRecord[] {
    this.dropped = 0;
    this.droppedSeqs = [];
    if (!this.clock.tick(nowMs)) return [];
    const out: OutRecord[] = [];
    for (const [sensor, st] of this.sensors) {
      if (st.open.size === 0) continue;
      // Processed without a clock: the one reading to go by is now - rx.
      st.seenAt ??= this.clock.elapsed - Math.max(0, nowMs - st.maxRx);
      st.watermark = Math.max(st.watermark, st.maxTs + (this.clock.elapsed - st.seenAt));
      this.closeDue(sensor, st, out);
    }
    return out;
  }

  heldSeq(): number | undefined {
    let held = Number.POSITIVE_INFINITY;
    for (const st of this.sensors.values()) for (const w of st.open.values()) held = Math.min(held, w.minSeq);
    if (held === Number.POSITIVE_INFINITY) {
      this.emitted = [];
      return undefined;
    }
    // Lowering held can make another emitted window straddle it: repeat until stable.
    for (let changed = true; changed;) {
      changed = false;
      for (const e of this.emitted)
        if (e.minSeq < held && e.maxSeq >= held) {
          held = e.minSeq;
          changed = true;
        }
    }
    // New windows start above every seq seen, so held never decreases: a window wholly below it is done.
    this.emitted = this.emitted.filter((e) => e.maxSeq >= held);
    return held;
  }

  private add(r: OutRecord, out: OutRecord[], nowMs: number): void {
    this.advanceStream(r.rxMs, out);
    let rec: CanonicalRecord;
    try {
      rec = decodeRecord(r.body);
    } catch {
      this.dropped++;
      this.droppedSeqs.push(r.seq);
      return;
    }
    if (
      typeof rec.temperature !== "number" ||
      !Number.isFinite(rec.temperature) ||
      !Number.isFinite(r.tsMs) ||
      !this.future.admit(r.sensor, r.tsMs, r.rxMs)
    ) {
      this.dropped++;
      this.droppedSeqs.push(r.seq);
      return;
    }
    let st = this.sensors.get(r.sensor);
    if (!st) {
      st = {
        watermark: Number.NEGATIVE_INFINITY,
        maxTs: Number.NEGATIVE_INFINITY,
        maxRx: 0,
        seenAt: undefined,
        streamSeen: this.streamMs,
        dueAt: undefined,
        open: new Map(),
      };
      this.sensors.set(r.sensor, st);
    }
    const { windowMs, allowedLatenessMs } = this.opt;
    const start = windowStart(r.tsMs, windowMs);
    if (st.maxTs > Number.NEGATIVE_INFINITY) st.watermark = Math.max(st.watermark, this.streamWatermark(st));
    if (start + windowMs + allowedLatenessMs <= st.watermark) {
      this.dropped++;
      this.droppedSeqs.push(r.seq);
      this.lateTotal++;
      return;
    }
    let w = st.open.get(start);
    if (!w) {
      w = openWindow(start, r.seq, r.rxMs, rec.source);
      st.open.set(start, w);
    }
    addToWindow(w, r, rec);
    if (r.tsMs > st.maxTs) {
      st.maxTs = r.tsMs;
      st.maxRx = r.rxMs;
      st.streamSeen = this.streamMs;
      // How long ago it was received; a lag beyond the clamp may be a step between ingest and now.
      st.seenAt = this.clock.known
        ? this.clock.elapsed - Math.min(Math.max(0, nowMs - r.rxMs), MAX_CALL_GAP_MS)
        : undefined;
    }
    if (r.tsMs > st.watermark) {
      st.watermark = r.tsMs;
      this.closeDue(r.sensor, st, out);
    }
    this.schedule(r.sensor, st);
  }

  private closeDue(sensor: string, st: SensorState, out: OutRecord[]): void {
    const { windowMs, allowedLatenessMs } = this.opt;
    const due = [...st.open.values()]
      .filter((w) => w.start + windowMs + allowedLatenessMs <= st.watermark)
      .sort((a, b) => a.start - b.start);
    for (const w of due) {
      st.open.delete(w.start);
      this.emitted.push({ minSeq: w.minSeq, maxSeq: w.maxSeq });
      out.push(windowRecord(this.agentId, sensor, w, windowMs, this.opt.stats));
    }
  }
}
