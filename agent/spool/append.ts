import type { NewRecord } from "../record/record.js";
import type { Telemetry } from "../telemetry/telemetry.js";
import { type Db, ensureReserve, isDiskFull, releaseReserve } from "./db.js";
import type { SpoolStore } from "./store.js";
import { type AppendResult, OUTCOME_DROPPED, OUTCOME_DUPLICATE, OUTCOME_STORED } from "./types.js";

/** Thrown inside the transaction to roll back a batch that `onFull: block` refuses. */
export class Blocked extends Error {}

export interface AppendPolicy {
  maxBytes: number;
  onFull: "drop-oldest" | "drop-newest" | "block";
}

/**
 * One group commit under the onFull policy; runs inside a transaction. `roomFactor` (after
 * SQLITE_FULL): first delete the oldest records worth that many times this batch.
 */
export function insertAll(
  s: SpoolStore,
  p: AppendPolicy,
  records: readonly NewRecord[],
  at: number,
  roomFactor = 0,
): AppendResult {
  const outcomes = new Uint8Array(records.length);
  const res: AppendResult = { stored: 0, duplicates: 0, droppedNewest: 0, blocked: false, outcomes };
  const wasEmpty = s.records === 0;
  if (roomFactor > 0) {
    let incoming = 0;
    for (const r of records) incoming += s.encode(r).size;
    s.trimTo(Math.max(0, Math.min(p.maxBytes, s.bytes) - roomFactor * incoming));
  }
  let refusing = false;
  records.forEach((r, i) => {
    const e = s.encode(r);
    let dup: boolean;
    if (p.onFull === "drop-newest" && (refusing || s.bytes + e.size > p.maxBytes)) {
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
  if (p.onFull === "block" && s.bytes > p.maxBytes && !wasEmpty) throw new Blocked();
  if (p.onFull === "drop-oldest") s.trimTo(p.maxBytes);
  s.countRefused(res.droppedNewest);
  return res;
}

export interface DiskFullContext {
  store: SpoolStore;
  policy: AppendPolicy;
  dir: string;
  telemetry: Telemetry;
  /** A store transaction with the spool's telemetry around it. */
  tx<T>(fn: (s: SpoolStore) => T): T;
  blocked(): AppendResult;
  /** Checkpoints the WAL into the pages just freed and takes the reserve again. */
  after(): void;
}

/** After a full disk: checkpoint the WAL into the pages just freed, take the reserve again. */
export function afterDiskFull(db: Db, dir: string): void {
  try {
    db.pragma("wal_checkpoint(TRUNCATE)");
  } catch (err) {
    if (!isDiskFull(err)) throw err;
  }
  ensureReserve(dir);
}

/**
 * SQLITE_FULL: the disk (or max_page_count) is the limit for this batch. drop-oldest makes
 * growing room and retries up to three times; otherwise the batch is refused or blocked. No limit
 * is remembered: the next batch tries again, so space freed on the disk is used at once.
 */
export function appendOnDiskFull(
  c: DiskFullContext,
  records: readonly NewRecord[],
  at: number,
  err: unknown,
): AppendResult {
  const s = c.store;
  c.telemetry.warnLimited(
    "spool:disk-full",
    { err: (err as Error).message, bytes: s.bytes },
    "spool disk full: applying onFull against the space there is",
  );
  if (c.policy.onFull === "block") return c.blocked();
  // Even deleting needs room in WAL mode: give back the reserve, make room, checkpoint the WAL
  // into the pages just freed, and take the reserve again once there is space for it.
  releaseReserve(c.dir);
  // Deleted rows free whole pages only now and then, so make room for a multiple of the batch,
  // growing until it fits.
  for (const factor of [2, 8, 32]) {
    if (c.policy.onFull !== "drop-oldest" || s.records === 0) break;
    try {
      const res = c.tx(() => insertAll(s, c.policy, records, at, factor));
      c.after();
      return res;
    } catch (again) {
      if (!isDiskFull(again)) throw again;
    }
  }
  try {
    c.tx(() => s.countRefused(records.length));
  } catch (again) {
    if (!isDiskFull(again)) throw again;
    // Not even the counter fits: the refusal is still counted in metrics and logged.
    c.telemetry.spoolRefused(records.length, "disk full");
  }
  c.after();
  return {
    stored: 0,
    duplicates: 0,
    droppedNewest: records.length,
    blocked: false,
    outcomes: new Uint8Array(records.length).fill(OUTCOME_DROPPED),
  };
}

/**
 * `onFull: block` bookkeeping: an append that was refused waits until something was freed after
 * the refusal (or a timeout), so producers retry only when a retry can succeed.
 */
export class SpaceWaiters {
  private freeGen = 0;
  private blockedGen = -1;
  private readonly waiters = new Set<() => void>();

  blocked(): AppendResult {
    this.blockedGen = this.freeGen;
    return { stored: 0, duplicates: 0, droppedNewest: 0, blocked: true };
  }

  freed(): void {
    this.freeGen++;
    this.releaseAll();
  }

  releaseAll(): void {
    for (const w of [...this.waiters]) w();
  }

  wait(timeoutMs: number, closed: boolean): Promise<void> {
    if (this.freeGen > this.blockedGen || closed) return Promise.resolve();
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
}
