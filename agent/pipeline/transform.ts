import type { OutRecord } from "../record/record.js";

/**
 * A per-sink step between the spool and the sink: `filter`, `aggregate` (agent/README.md, "Adding a transform").
 * Transforms see batches in seq order. A transform that holds records back (open windows)
 * reports the lowest seq it still needs, so the sink's durable cursor never passes it and a
 * crash recomputes the window (with the same aggregate id) instead of losing it.
 */
export interface Transform {
  readonly name: string;
  /** Returns the records to pass on; may return fewer, more, or new records. */
  process(batch: readonly OutRecord[], nowMs: number): OutRecord[];
  /** Emits what is due by `nowMs` without new input (closed windows); called when the spool is idle. */
  flush(nowMs: number): OutRecord[];
  /** Lowest spool seq still held in memory, or undefined when nothing is held. */
  heldSeq(): number | undefined;
  /** Records the last call dropped on purpose (filtered out), for the `filter` drop counter. */
  readonly dropped?: number;
  /**
   * Their seqs (filter, aggregate: each dropped input is one spool record): lets the spool count a drop
   * exactly once even when retention deleted that record while its batch was in flight.
   */
  readonly droppedSeqs?: readonly number[];
}
