import type { NewRecord, OutRecord } from "../record/record.js";
import type { Telemetry } from "../telemetry/telemetry.js";

/** What `append` did with one group commit. */
export interface AppendResult {
  /** Rows inserted (new ids). */
  stored: number;
  /** Rows whose id was already in the spool: kept once, not an error. */
  duplicates: number;
  /** Rows refused because the spool (drop-newest) or the disk is full; counted in stats `refused`. */
  droppedNewest: number;
  /** Under `onFull: block`: nothing was written; call again once `waitForSpace` resolves. */
  blocked: boolean;
  /**
   * Each record's fate, in the order given (OUTCOME_STORED, OUTCOME_DUPLICATE, OUTCOME_DROPPED),
   * so a group commit can tell each sender what became of its own readings.
   */
  outcomes?: Uint8Array;
}

export const OUTCOME_STORED = 0;
export const OUTCOME_DUPLICATE = 1;
export const OUTCOME_DROPPED = 2;

export interface SinkStats {
  sink: string;
  /** Records after this sink's cursor. */
  depth: number;
  /** Age in ms of the oldest record after the cursor (by receive time), 0 when empty. */
  oldestAgeMs: number;
  shipped: number;
  /** Drops by reason (max-age, spool-full, dead-letter, filter). */
  dropped: Record<string, number>;
  deadLetters: number;
  cursor: number;
}

export interface SpoolStats {
  records: number;
  /** Bytes of record data counted against `maxBytes`. */
  bytes: number;
  /** Size of the database files on disk (main + WAL). */
  fileBytes: number;
  lastSeq: number;
  /** Bytes held by dead letters (body + per-row overhead), bounded apart from `bytes`. */
  deadLetterBytes: number;
  /** Dead letters deleted, oldest first, to keep within that bound. */
  deadLettersEvicted: number;
  /**
   * Readings refused because the spool or the disk was full (drop-newest, or a batch with no room
   * even after dropping the oldest): never stored, so in no sink's accounting.
   */
  refused: number;
  sinks: SinkStats[];
}

export interface DeadLetter {
  record: OutRecord;
  reason: string;
}

/** One delivered batch's outcome, settled in one transaction (see `SpoolApi.settle`). */
export interface Settlement {
  /** The sink's cursor moves to this seq (never backwards). */
  upTo: number;
  /** Seqs of the records the sink accepted. */
  shipped: readonly number[];
  /** Records the sink refused for good. */
  deadLetters: readonly DeadLetter[];
  /** Records transforms dropped on purpose, by reason: their seqs when known, else a count. */
  dropped: readonly { reason: string; seqs?: readonly number[]; n?: number }[];
}

/**
 * The durable queue between sources and sinks (agent/spool/README.md). Synchronous: better-sqlite3 is,
 * and a group commit is one short transaction. Sinks page through it; nothing here loads the
 * backlog into memory.
 */
export interface SpoolApi {
  /** One transaction for the whole group; assigns seq; a duplicate id is stored once. */
  append(records: readonly NewRecord[]): AppendResult;
  /** Ensures cursors exist for exactly these sinks; cursors of sinks no longer configured are removed. */
  setSinks(sinkIds: readonly string[]): void;
  /** Up to `limit` records (and about `maxBytes` of body) with seq > afterSeq, in seq order. */
  read(afterSeq: number, limit: number, maxBytes?: number): OutRecord[];
  /** The durable cursor of a sink: every record with seq <= it is done for that sink. */
  cursor(sink: string): number;
  /** Advances a sink's cursor (never backwards), counts `shipped`, deletes what every sink is done with. */
  ack(sink: string, uptoSeq: number, shipped: number): void;
  /** Stores records a sink refuses for good; counted as dropped with reason dead-letter. */
  deadLetter(sink: string, letters: readonly DeadLetter[]): void;
  /**
   * Records a batch's outcome and moves the cursor, all in one transaction, so a retry after a
   * failure (SQLITE_FULL, BUSY) settles the same batch once. Records retention already counted as
   * dropped while the batch was in flight are not counted again. Returns what it counted.
   */
  settle(sink: string, settlement: Settlement): { shipped: number; deadLetters: number };
  /** Counts records a sink skipped on purpose (filter) without shipping them. */
  countDropped(sink: string, reason: string, n: number): void;
  /** Applies maxAge and maxBytes now; returns how many records were removed. */
  enforceRetention(): number;
  /** Returns freed pages to the file system and truncates the WAL. */
  reclaim(): void;
  /**
   * Calls `listener` after every commit that stored records, with how many; returns the
   * unsubscribe. Shipping loops sleep until it calls (optional: test doubles may leave it out).
   */
  onCommit?(listener: (stored: number) => void): () => void;
  /** Resolves when an append under `onFull: block` may succeed, or after `timeoutMs`. */
  waitForSpace(timeoutMs: number): Promise<void>;
  stats(): SpoolStats;
  close(): void;
}

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
