import { readingId } from "../record/ids.js";
import type { NewRecord, Reading } from "../record/record.js";
import type { Ingest, IngestOutcome } from "../sources/source.js";
import {
  type AppendResult,
  OUTCOME_DROPPED,
  OUTCOME_DUPLICATE,
  OUTCOME_STORED,
  type SpoolApi,
} from "../spool/types.js";
import type { Telemetry } from "../telemetry/telemetry.js";

export interface IngestOptions {
  agentId: string;
  /** Most readings committed in one transaction. */
  maxCommitRecords: number;
  /**
   * How long a commit may wait for more readings after the first one queued (0: commit in the
   * next turn of the event loop). Only held while another sender is active (see `createIngest`);
   * senders are acknowledged only after the commit either way.
   */
  commitDelayMs?: number;
  now?: () => number;
  /** Monotonic clock for telling which senders are active (tests inject one). */
  clock?: () => number;
  /** Told after every append whether the spool held the group back (`onFull: block`), for health. */
  onAppend?: (blocked: boolean) => void;
}

/** A sender counts as active this many commit delays after its last submission or acknowledgement. */
export const ACTIVE_SENDER_DELAYS = 2;

/** A group this large is committed at once: waiting longer would save little and only add latency. */
export const EARLY_COMMIT_RECORDS = 512;

interface Pending {
  records: NewRecord[];
  resolve: (o: IngestOutcome) => void;
  reject: (e: unknown) => void;
}

export interface IngestQueue extends Ingest {
  /** Commits what is queued and stops taking new submissions. */
  close(): Promise<void>;
  /** Readings waiting for a commit (e.g. while the spool blocks). */
  readonly pending: number;
}

/**
 * Group commit (agent/README.md, "Data flow"): submissions that arrive in the same turn of the event loop — or, with
 * `commitDelayMs`, within that long after the first one queued — are committed in one transaction,
 * then resolved in arrival order, so a source acknowledges its senders in the order they sent.
 * Every commit rewrites at least a few whole pages, so at light traffic waiting for company divides
 * the bytes written per reading (like PostgreSQL's commit_delay); a group of EARLY_COMMIT_RECORDS
 * commits at once. Like commit_siblings, a group waits only while more than one sender (an MQTT
 * client, else the source) is active: a lone sender waiting for each
 * acknowledgement would otherwise be held to one message per delay. While the spool blocks
 * (`onFull: block`) nothing resolves, which is what makes producers wait.
 */
export function createIngest(spool: SpoolApi, telemetry: Telemetry, opts: IngestOptions): IngestQueue {
  const now = opts.now ?? Date.now;
  const delayMs = opts.commitDelayMs ?? 0;
  const early = Math.min(opts.maxCommitRecords, EARLY_COMMIT_RECORDS);
  let timer: NodeJS.Timeout | undefined;
  let queue: Pending[] = [];
  let queued = 0;
  let scheduled = false;
  let flushing: Promise<void> | undefined;
  let closed = false;
  const senders = createActiveSenders(
    delayMs * ACTIVE_SENDER_DELAYS,
    opts.clock ?? (() => performance.now()),
  );

  function toRecords(source: string, readings: readonly Reading[]): NewRecord[] {
    const rxMs = now();
    const rx = new Date(rxMs).toISOString();
    return readings.map((r) => {
      const rec: NewRecord = {
        id: readingId(r, rxMs),
        sensor: r.sensor,
        ts: r.deviceTs === undefined ? rx : new Date(r.deviceTs).toISOString(),
        temperature: r.temperature,
        source,
        agent: opts.agentId,
        rx,
      };
      if (r.humidity !== undefined) rec.humidity = r.humidity;
      if (r.deviceSeq !== undefined) rec.dseq = r.deviceSeq;
      if (r.attrs !== undefined) rec.attrs = r.attrs;
      return rec;
    });
  }

  /** The oldest submissions that fit one transaction (always at least one), removed in one splice. */
  function takeGroup(): Pending[] {
    let i = 0;
    let n = 0;
    while (i < queue.length && (i === 0 || n + queue[i]!.records.length <= opts.maxCommitRecords)) {
      n += queue[i]!.records.length;
      i++;
    }
    return queue.splice(0, i);
  }

  async function commitGroup(group: Pending[]): Promise<void> {
    const records = group.flatMap((p) => p.records);
    try {
      await commitRecords(group, records);
    } finally {
      queued -= records.length;
    }
  }

  async function commitRecords(group: Pending[], records: NewRecord[]): Promise<void> {
    for (;;) {
      let result: ReturnType<SpoolApi["append"]>;
      try {
        result = spool.append(records);
        opts.onAppend?.(result.blocked);
      } catch (err) {
        telemetry.log.error({ err }, "spool append failed");
        for (const p of group) p.reject(err);
        return;
      }
      if (result.blocked) {
        if (closed) {
          // Shutting down with a full spool: these senders were never acknowledged, so they resend.
          for (const p of group) p.reject(new Error("shutting down while the spool is full"));
          return;
        }
        telemetry.warnLimited("ingest:blocked", { waiting: queued }, "spool full: holding acknowledgements");
        try {
          await spool.waitForSpace(1000);
        } catch (err) {
          for (const p of group) p.reject(err);
          return;
        }
        continue;
      }
      // Readings the spool refused (full) are counted by the spool itself, spool-wide.
      telemetry.committed(result.stored, result.duplicates);
      resolveEach(group, result);
      return;
    }
  }

  /** Tells each sender what became of its own readings, from the spool's per-record outcomes. */
  function resolveEach(group: Pending[], result: AppendResult): void {
    let at = 0;
    for (const p of group) {
      const o = { stored: 0, duplicates: 0, dropped: 0 };
      for (let i = 0; i < p.records.length; i++, at++) {
        const k = result.outcomes?.[at] ?? OUTCOME_STORED;
        if (k === OUTCOME_DUPLICATE) o.duplicates++;
        else if (k === OUTCOME_DROPPED) o.dropped++;
        else o.stored++;
      }
      p.resolve(o);
    }
  }

  /** Whether the queued submissions should wait for more company before their commit. */
  function holdForCompany(): boolean {
    return delayMs > 0 && !closed && queued < early && senders.othersActive();
  }

  async function drain(): Promise<void> {
    // Submissions made while a group commits (a sender answering its acknowledgement) wait like any.
    for (let first = true; queue.length > 0 && (first || !holdForCompany()); first = false)
      await commitGroup(takeGroup());
  }

  function flushSoon(): void {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      flushing = drain().finally(() => {
        flushing = undefined;
        if (queue.length > 0) schedule();
      });
    });
  }

  function schedule(): void {
    if (flushing) return;
    if (!holdForCompany()) flushSoon();
    else timer ??= setTimeout(flushSoon, delayMs);
  }

  return {
    submit(source, readings, sender) {
      if (closed) return Promise.reject(new Error("ingest closed"));
      if (readings.length === 0) return Promise.resolve({ stored: 0, duplicates: 0, dropped: 0 });
      telemetry.accepted(source, readings.length);
      const records = toRecords(source, readings);
      return new Promise<IngestOutcome>((resolve, reject) => {
        const key = sender === undefined ? source : `${source}\n${sender}`;
        if (delayMs > 0) senders.joined(key);
        // Settled before the sender hears of it: one that waits for its acknowledgement comes back at once.
        const settle = () => {
          if (delayMs > 0) senders.left(key);
        };
        queue.push({
          records,
          resolve: (o) => (settle(), resolve(o)),
          reject: (e) => (settle(), reject(e)),
        });
        queued += records.length;
        schedule();
      });
    },
    reject(source, reason, detail) {
      telemetry.reject(source, reason, detail);
    },
    get pending() {
      return queued;
    },
    async close() {
      closed = true;
      clearTimeout(timer);
      timer = undefined;
      // Not `scheduled`: a pending setImmediate with an empty queue has nothing to commit, and
      // awaiting drain() for it would spin in microtasks without ever letting it run.
      while (flushing || queue.length > 0) {
        if (flushing) await flushing;
        else await drain();
      }
      queue = [];
    },
  };
}

interface ActiveSender {
  at: number;
  /** Its submissions waiting in the queue. */
  queued: number;
}

/**
 * Senders seen within `windowMs`, oldest first (a Map keeps insertion order and every update
 * re-inserts at the end), so expiry pops from the front and memory stays with the senders of the
 * last window, not every client ever connected.
 */
function createActiveSenders(windowMs: number, clock: () => number) {
  const active = new Map<string, ActiveSender>();

  function touch(key: string, s: ActiveSender): void {
    active.delete(key);
    s.at = clock();
    active.set(key, s);
  }

  function expire(): void {
    const cutoff = clock() - windowMs;
    for (const [key, s] of active) {
      if (s.at >= cutoff) return;
      // Still waiting for its commit (spool blocked): active however long that takes.
      if (s.queued > 0) touch(key, s);
      else active.delete(key);
    }
  }

  return {
    joined(key: string): void {
      const s = active.get(key) ?? { at: 0, queued: 0 };
      s.queued++;
      touch(key, s);
    },
    left(key: string): void {
      const s = active.get(key);
      if (s === undefined || s.queued === 0) return;
      s.queued--;
      touch(key, s);
    },
    /**
     * Whether more than one sender is active. Not "all of them already queued, so commit": a
     * sender with many messages in flight is queued again long before the others are done.
     */
    othersActive(): boolean {
      expire();
      return active.size > 1;
    },
  };
}
