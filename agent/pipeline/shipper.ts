import { backoffDelay, sleep } from "../backoff.js";
import type { SinkCommonConfig } from "../config/common.js";
import { healthSchema } from "../config/health.js";
import type { OutRecord } from "../record/record.js";
import { type Sink, SinkError } from "../sinks/sink.js";
import { isTransientSpoolError } from "../spool/index.js";
import type { Settlement, SpoolApi } from "../spool/types.js";
import { supervise } from "../supervise.js";
import type { Telemetry } from "../telemetry/telemetry.js";
import { deliver } from "./deliver.js";
import { SinkHealth, type SinkHealthThresholds } from "./sink-health.js";
import type { Transform } from "./transform.js";

export interface ShipperOptions {
  now?: () => number;
  /**
   * How often an idle shipper with transforms looks again, so time-based windows close; without
   * transforms an idle shipper sleeps until a commit gives it work.
   */
  idlePollMs?: number;
  /** When this sink counts as failing (defaults: the config's health defaults). */
  health?: SinkHealthThresholds;
}

type Drops = Settlement["dropped"][number][];

/**
 * One sink's read loop: pages records after its position in the spool (never the whole
 * backlog), waits to fill a batch up to `maxBufferAgeMs`, runs the sink's transforms, delivers
 * with retries, and only then settles the batch (shipped, dead letters, drops, cursor) in one
 * spool transaction.
 *
 * The loop runs under `supervise`: any error is logged, counted as a restart of
 * `shipper:<sink>` and retried after a backoff. A restart rewinds to the durable cursor with
 * fresh transforms (when built from a factory), as a process restart would, so nothing is lost and
 * no window is fed twice. A settle that fails with a transient spool error (SQLITE_FULL, BUSY,
 * IOERR) is retried in place with the same batch, so what the sink accepted is counted once.
 */
export class Shipper {
  readonly health: SinkHealth;
  private readPos: number;
  private transforms: readonly Transform[];
  private readonly makeTransforms: (() => Transform[]) | undefined;
  private sinkStarted = false;
  private newSinceRead = 0;
  /** The last read found nothing: the next commit wakes the loop. */
  private idle = false;
  /** The page the loop is waiting to fill (records, bytes), so a commit that fills it wakes the loop. */
  private filling: { records: number; bytes: number } | undefined;
  private unsubscribe: (() => void) | undefined;
  private wake: (() => void) | undefined;
  private readonly stopCtl = new AbortController();
  private readonly abortCtl = new AbortController();
  private running: Promise<void> | undefined;
  private readonly now: () => number;
  private readonly idlePollMs: number;

  constructor(
    private readonly spool: SpoolApi,
    private readonly sink: Sink,
    private readonly cfg: SinkCommonConfig,
    transforms: readonly Transform[] | (() => Transform[]),
    private readonly telemetry: Telemetry,
    opts: ShipperOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
    this.idlePollMs = opts.idlePollMs ?? 1000;
    this.readPos = spool.cursor(sink.id);
    this.makeTransforms = typeof transforms === "function" ? transforms : undefined;
    this.transforms = typeof transforms === "function" ? transforms() : transforms;
    this.health = new SinkHealth(sink.id, telemetry, opts.health ?? healthSchema.parse({}), this.now);
  }

  get sinkId(): string {
    return this.sink.id;
  }

  get loopName(): string {
    return `shipper:${this.sink.id}`;
  }

  start(): void {
    // Every commit that stores records wakes an idle loop, whoever appended them.
    this.unsubscribe ??= this.spool.onCommit?.((n) => this.notify(n));
    this.health.report();
    this.running ??= supervise(this.loopName, this.telemetry, (healthy) => this.loop(healthy), {
      signal: this.stopCtl.signal,
      backoff: this.cfg.retry,
      onRestart: () => this.rewind(),
    });
  }

  /**
   * Called after each group commit with the number of new records: wakes a loop that found the
   * spool empty (it then waits until the oldest record is maxBufferAgeMs old) or that is filling
   * a batch which is now full. Any other commit only adds to the batch: shipping on every commit
   * would send one tiny batch per commit (commits are paced, so often one reading each).
   */
  notify(n: number): void {
    this.newSinceRead += n;
    if (this.wake && (this.idle || this.batchFull())) this.wake();
  }

  /**
   * Whether the page being filled plus what was committed since it was read makes a full batch.
   * Commits tell only how many records they stored, so bytes are estimated from the page's
   * average; an early guess costs one read, after which the loop waits out the rest of the age.
   */
  private batchFull(): boolean {
    const page = this.filling ?? { records: 0, bytes: 0 };
    const records = page.records + this.newSinceRead;
    const bytes = page.records > 0 ? (page.bytes / page.records) * records : 0;
    return records >= this.cfg.maxBatchRecords || bytes >= this.cfg.maxBatchBytes * 0.9;
  }

  /** Stops reading; lets the batch in flight finish for up to `timeoutMs`, then aborts it (it is resent later). */
  async stop(timeoutMs: number): Promise<void> {
    this.stopCtl.abort();
    this.unsubscribe?.();
    this.wake?.();
    const timer = setTimeout(() => this.abortCtl.abort(), timeoutMs);
    try {
      await this.running;
      // Gone with the shipper (a sink removed by a reload); the sink's own state is forgotten by its owner.
      this.telemetry.health.forget("loop", this.loopName);
    } finally {
      clearTimeout(timer);
      await this.sink
        .close()
        .catch((err) => this.telemetry.log.warn({ err, sink: this.sink.id }, "sink close failed"));
    }
  }

  private get stopping(): boolean {
    return this.stopCtl.signal.aborted;
  }

  /** Sleeps until `wake()` or, when `ms` is given, that long. */
  private waitFor(ms: number | undefined): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.wake = undefined;
        resolve();
      };
      const t = ms === undefined ? undefined : setTimeout(done, ms);
      this.wake = done;
    });
  }

  private async startSink(): Promise<boolean> {
    for (let attempt = 0; !this.stopping; attempt++) {
      try {
        await this.sink.start();
        this.telemetry.log.info({ sink: this.sink.id, type: this.sink.type }, "sink started");
        return true;
      } catch (err) {
        const se = err instanceof SinkError ? err : undefined;
        this.telemetry.sinkError(this.sink.id, se?.code ?? "start", err, true);
        this.health.attempt(`cannot start: ${err instanceof Error ? err.message : String(err)}`);
        await sleep(backoffDelay(attempt, this.cfg.retry), this.stopCtl.signal);
      }
    }
    return false;
  }

  /** After a failure: start again from the durable cursor, as after a process restart. */
  private rewind(): void {
    if (!this.makeTransforms) return; // transforms given as instances keep their state: keep reading on
    this.transforms = this.makeTransforms();
    this.readPos = this.spool.cursor(this.sink.id);
  }

  private async loop(healthy: () => void): Promise<void> {
    if (!this.sinkStarted && !(await this.startSink())) return;
    this.sinkStarted = true;
    healthy();
    while (!this.stopping) {
      this.newSinceRead = 0;
      const page = this.spool.read(this.readPos, this.cfg.maxBatchRecords, this.cfg.maxBatchBytes);
      const now = this.now();
      if (page.length === 0) {
        const drops: Drops = [];
        const due = this.flushTransforms(now, drops);
        if (due.length > 0 || drops.length > 0) await this.ship(due, this.readPos, drops);
        else await this.sleepIdle();
        healthy();
        continue;
      }
      const bytes = page.reduce((n, r) => n + r.body.length + 1, 0);
      const full = page.length >= this.cfg.maxBatchRecords || bytes >= this.cfg.maxBatchBytes * 0.9;
      const waited = now - page[0]!.rxMs;
      if (!full && waited >= 0 && waited < this.cfg.maxBufferAgeMs) {
        // Until the oldest record has waited maxBufferAgeMs, or commits fill the batch.
        this.filling = { records: page.length, bytes };
        try {
          await this.waitFor(this.cfg.maxBufferAgeMs - waited);
        } finally {
          this.filling = undefined;
        }
        continue;
      }
      const lastSeq = page[page.length - 1]!.seq;
      const drops: Drops = [];
      await this.ship(this.applyTransforms(0, page, now, drops), lastSeq, drops);
      healthy();
    }
  }

  private async sleepIdle(): Promise<void> {
    this.idle = true;
    try {
      // A commit between the read and here already happened: look again instead of sleeping.
      if (this.newSinceRead > 0) return;
      await this.waitFor(this.transforms.length > 0 ? this.idlePollMs : undefined);
    } finally {
      this.idle = false;
    }
  }

  /** Runs records through transforms[from..], noting what each drops on purpose in `drops`. */
  private applyTransforms(from: number, records: OutRecord[], now: number, drops: Drops): OutRecord[] {
    let out = records;
    for (const t of this.transforms.slice(from)) {
      if (out.length === 0) break;
      out = t.process(out, now);
      if (t.dropped) drops.push({ reason: t.name, n: t.dropped, seqs: t.droppedSeqs });
    }
    return out;
  }

  /** What transforms emit without new input (idle-closed windows), passed through the transforms after them. */
  private flushTransforms(now: number, drops: Drops): OutRecord[] {
    return this.transforms.flatMap((t, i) => this.applyTransforms(i + 1, t.flush(now), now, drops));
  }

  /**
   * Delivers `out` and, when every record is settled, records the outcome and moves the cursor
   * up to `lastSeq` (held windows permitting). Drops are counted with the batch, not before, so a
   * batch that is read again after a restart is counted once.
   */
  private async ship(out: OutRecord[], lastSeq: number, drops: Drops): Promise<void> {
    let settlement: Settlement = { upTo: lastSeq, shipped: [], deadLetters: [], dropped: drops };
    if (out.length > 0) {
      const res = await deliver(this.sink, out, this.cfg.retry, this.telemetry, this.abortCtl.signal, (f) =>
        this.health.attempt(f),
      );
      if (!res.complete) return;
      settlement = { ...settlement, shipped: res.shippedSeqs, deadLetters: res.deadLetters };
    }
    for (const t of this.transforms) {
      const held = t.heldSeq();
      if (held !== undefined) settlement.upTo = Math.min(settlement.upTo, held - 1);
    }
    if (!(await this.settle(settlement))) return;
    this.readPos = Math.max(this.readPos, lastSeq);
  }

  /** Settles a delivered batch, retrying transient spool errors with the same batch; false if stopped first. */
  private async settle(settlement: Settlement): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      try {
        const counted = this.spool.settle(this.sink.id, settlement);
        this.telemetry.shippedSettled(this.sink.id, counted.shipped);
        if (attempt > 0) this.health.spool(undefined);
        return true;
      } catch (err) {
        if (!isTransientSpoolError(err)) throw err;
        const delay = backoffDelay(attempt, this.cfg.retry);
        const reason = `${(err as { code?: string }).code}: ${(err as Error).message}`;
        this.health.spool(reason);
        this.telemetry.warnLimited(
          `settle:${this.sink.id}`,
          { sink: this.sink.id, err: reason, retryInMs: delay },
          "recording a shipped batch in the spool failed; retrying the same batch",
        );
        // Not the abortable signal: a batch the sink accepted is worth settling until the very end.
        await sleep(delay, this.stopCtl.signal);
        if (this.stopping) return false;
      }
    }
  }
}
