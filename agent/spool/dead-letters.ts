import { ROW_OVERHEAD } from "./db.js";
import type { Statements } from "./statements.js";
import type { DeadLetter } from "./types.js";

/**
 * The dead-letter table and its byte bound. Records a sink refused for good are kept here (they
 * were counted as that sink's `dead-letter` drop when stored); the oldest are deleted once their
 * bytes pass `limit`, counted apart as evictions, so the per-sink accounting identity is unchanged.
 * Runs inside the store's transactions.
 */
export class DeadLetters {
  /** Bytes of dead letters (body + ROW_OVERHEAD each). */
  bytes = 0;
  limit = Number.POSITIVE_INFINITY;

  constructor(
    private readonly st: Statements,
    private readonly onEvicted: (sink: string, n: number) => void,
  ) {}

  /** Re-reads the byte count from the table (after opening, or a failed transaction). */
  load(): void {
    const dead = this.st.deadLetterBytes.get() as { n: number; b: number };
    this.bytes = dead.b + dead.n * ROW_OVERHEAD;
  }

  add(sink: string, letters: readonly DeadLetter[], at: number): void {
    for (const l of letters) {
      this.st.insertDeadLetter.run(sink, l.record.seq, l.record.id, l.record.body, l.reason, at);
      this.bytes += Buffer.byteLength(l.record.body) + ROW_OVERHEAD;
    }
    this.st.addDeadLetterCount.run(letters.length, sink);
    this.trim(this.limit);
  }

  hasBefore(cutoff: number): boolean {
    return this.st.deadLetterBefore.get(cutoff) !== undefined;
  }

  expire(cutoff: number): void {
    const gone = this.st.deadLetterBytesBefore.get(cutoff) as { n: number; b: number };
    if (gone.n === 0) return;
    this.st.expireDeadLetters.run(cutoff);
    this.bytes -= gone.b + gone.n * ROW_OVERHEAD;
  }

  /**
   * Deletes the oldest dead letters until their bytes are at most `limit`, counted in meta
   * `deadLettersEvicted` and, once committed, `edgespool_dead_letters_evicted_total`.
   */
  trim(limit: number): void {
    if (this.bytes <= limit) return;
    let excess = this.bytes - limit;
    let upTo = -1;
    let freed = 0;
    const bySink = new Map<string, number>();
    for (const [rowid, sink, size] of this.st.deadLetterSizes.iterate() as Iterable<
      [number, string, number]
    >) {
      upTo = rowid;
      freed += size + ROW_OVERHEAD;
      bySink.set(sink, (bySink.get(sink) ?? 0) + 1);
      excess -= size + ROW_OVERHEAD;
      if (excess <= 0) break;
    }
    if (upTo < 0) return;
    this.st.deleteDeadLettersUpTo.run(upTo);
    this.bytes -= freed;
    let n = 0;
    for (const [sink, k] of bySink) {
      n += k;
      this.onEvicted(sink, k);
    }
    this.st.addMeta.run("deadLettersEvicted", n);
  }
}
