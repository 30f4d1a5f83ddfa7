import { backoffDelay, sleep } from "../backoff.js";
import type { SinkCommonConfig } from "../config/common.js";
import type { OutRecord } from "../record/record.js";
import { type Sink, SinkError } from "../sinks/sink.js";
import type { SpoolApi } from "../spool/types.js";
import type { Telemetry } from "../telemetry/telemetry.js";
import { deliver } from "./deliver.js";
import type { Transform } from "./transform.js";

export interface ShipperOptions {
  now?: () => number;
  /**
   * How often an idle shipper with transforms looks again, so time-based windows close; without
   * transforms an idle shipper sleeps until a commit gives it work.
   */
  idlePollMs?: number;
}

/**
 * One sink's read loop (DESIGN §1): pages records after its position in the spool (never the
 * whole backlog), waits to fill a batch up to `maxBufferAgeMs`, runs the sink's transforms,
 * delivers with retries, and only then moves the sink's durable cursor.
 */
export class Shipper {
  private readPos: number;
  private newSinceRead = 0;
  /** The last read found nothing: the next commit wakes the loop. */
  private idle = false;
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
    private readonly transforms: readonly Transform[],
    private readonly telemetry: Telemetry,
    opts: ShipperOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
    this.idlePollMs = opts.idlePollMs ?? 1000;
    this.readPos = spool.cursor(sink.id);
  }

  start(): void {
    this.running ??= this.loop().catch((err) => {
      this.telemetry.log.error({ err, sink: this.sink.id }, "shipping loop failed");
    });
  }

  /**
   * Called after each group commit with the number of new records: wakes a loop that found the
   * spool empty (it then waits until the oldest record is maxBufferAgeMs old) or that is filling
   * a batch which is now full.
   */
  notify(n: number): void {
    this.newSinceRead += n;
    if (this.wake && (this.idle || this.newSinceRead >= this.cfg.maxBatchRecords)) this.wake();
  }

  /** Stops reading; lets the batch in flight finish for up to `timeoutMs`, then aborts it (it is resent later). */
  async stop(timeoutMs: number): Promise<void> {
    this.stopCtl.abort();
    this.wake?.();
    const timer = setTimeout(() => this.abortCtl.abort(), timeoutMs);
    try {
      await this.running;
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
        await sleep(backoffDelay(attempt, this.cfg.retry), this.stopCtl.signal);
      }
    }
    return false;
  }

  private async loop(): Promise<void> {
    if (!(await this.startSink())) return;
    while (!this.stopping) {
      this.newSinceRead = 0;
      const page = this.spool.read(this.readPos, this.cfg.maxBatchRecords, this.cfg.maxBatchBytes);
      const now = this.now();
      if (page.length === 0) {
        const due = this.flushTransforms(now);
        if (due.length > 0) await this.ship(due, this.readPos);
        else await this.sleepIdle();
        continue;
      }
      const bytes = page.reduce((n, r) => n + r.body.length + 1, 0);
      const full = page.length >= this.cfg.maxBatchRecords || bytes >= this.cfg.maxBatchBytes * 0.9;
      const waited = now - page[0]!.rxMs;
      if (!full && waited >= 0 && waited < this.cfg.maxBufferAgeMs) {
        await this.waitFor(this.cfg.maxBufferAgeMs - waited);
        continue;
      }
      const lastSeq = page[page.length - 1]!.seq;
      await this.ship(this.applyTransforms(0, page, now), lastSeq);
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

  /** Runs records through transforms[from..], counting what each drops on purpose. */
  private applyTransforms(from: number, records: OutRecord[], now: number): OutRecord[] {
    let out = records;
    for (const t of this.transforms.slice(from)) {
      if (out.length === 0) break;
      out = t.process(out, now);
      if (t.dropped) this.spool.countDropped(this.sink.id, t.name, t.dropped);
    }
    return out;
  }

  /** What transforms emit without new input (idle-closed windows), passed through the transforms after them. */
  private flushTransforms(now: number): OutRecord[] {
    return this.transforms.flatMap((t, i) => this.applyTransforms(i + 1, t.flush(now), now));
  }

  /** Delivers `out` and, when every record is settled, acks the cursor up to `lastSeq` (held windows permitting). */
  private async ship(out: OutRecord[], lastSeq: number): Promise<void> {
    let shipped = 0;
    if (out.length > 0) {
      const res = await deliver(this.sink, out, this.cfg.retry, this.telemetry, this.abortCtl.signal);
      if (!res.complete) return;
      if (res.deadLetters.length > 0) this.spool.deadLetter(this.sink.id, res.deadLetters);
      shipped = res.shipped;
    }
    let ackTo = lastSeq;
    for (const t of this.transforms) {
      const held = t.heldSeq();
      if (held !== undefined) ackTo = Math.min(ackTo, held - 1);
    }
    this.readPos = Math.max(this.readPos, lastSeq);
    this.spool.ack(this.sink.id, ackTo, shipped);
  }
}
