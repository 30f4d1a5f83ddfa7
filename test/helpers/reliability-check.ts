/**
 * The delivery verdict every torture test asserts, as three independent checks: each acknowledged
 * reading is in a sink's output (`missing`); each device message is there under one id only
 * (`doubled`: a redelivery stored as a new record would show here even when nothing is missing);
 * and a sensor's records appear in the device's own order (`orderViolations`, by device sequence,
 * else device time — never the spool's seq, which increases by construction).
 */

export interface ShippedRecord {
  id: string;
  sensor: string;
  seq: number;
  /** The device's sequence number, when its payload had one. */
  dseq?: number;
  /** Epoch ms of `ts`: device time, else receive time. */
  tsMs: number;
}

export interface Delivery {
  /** Acknowledged ids absent from the output. */
  missing: string[];
  /** Distinct ids in the output. */
  unique: number;
  /** Lines whose id was already seen (retries across crashes; allowed, dropped by id). */
  duplicates: number;
  /** Device messages (sensor, dseq) present under more than one id: silent duplicates. */
  doubled: string[];
  /** `sensor: dseq a after b` (or ts) for every first occurrence that went backwards. */
  orderViolations: string[];
  /** Lines that are not records. */
  unparsable: number;
}

export function parseRecords(lines: readonly string[]): { records: ShippedRecord[]; unparsable: number } {
  const records: ShippedRecord[] = [];
  let unparsable = 0;
  for (const l of lines) {
    try {
      const r = JSON.parse(l) as Partial<ShippedRecord> & { ts?: unknown };
      const tsMs = typeof r.ts === "string" ? Date.parse(r.ts) : NaN;
      if (
        typeof r.id === "string" &&
        typeof r.sensor === "string" &&
        typeof r.seq === "number" &&
        !isNaN(tsMs)
      )
        records.push({
          id: r.id,
          sensor: r.sensor,
          seq: r.seq,
          tsMs,
          ...(typeof r.dseq === "number" ? { dseq: r.dseq } : {}),
        });
      else unparsable++;
    } catch {
      unparsable++;
    }
  }
  return { records, unparsable };
}

/** How a test names a device message it saw acknowledged, independent of how the agent derives ids. */
export function messageKey(sensor: string, dseq: number): string {
  return `${sensor}\u0000${dseq}`;
}

/**
 * `acked` holds record ids, or with `by: "message"` keys from `messageKey`: then "missing" does not
 * depend on the id scheme at all, and a wrong id shows only where it belongs, in `doubled`.
 */
export function checkDelivery(
  lines: readonly string[],
  acked: Iterable<string>,
  by: "id" | "message" = "id",
): Delivery {
  const { records, unparsable } = parseRecords(lines);
  const seen = new Set<string>();
  const present = new Set<string>();
  const idOfMessage = new Map<string, string>();
  const last = new Map<string, { dseq?: number; tsMs: number }>();
  const orderViolations: string[] = [];
  const doubled: string[] = [];
  let duplicates = 0;
  for (const r of records) {
    if (seen.has(r.id)) {
      duplicates++;
      continue;
    }
    seen.add(r.id);
    if (r.dseq !== undefined) {
      const key = messageKey(r.sensor, r.dseq);
      present.add(key);
      const other = idOfMessage.get(key);
      if (other === undefined) idOfMessage.set(key, r.id);
      else doubled.push(`${r.sensor} dseq ${r.dseq}: ${other} and ${r.id}`);
    }
    const prev = last.get(r.sensor);
    if (prev?.dseq !== undefined && r.dseq !== undefined) {
      if (r.dseq <= prev.dseq) orderViolations.push(`${r.sensor}: dseq ${r.dseq} after ${prev.dseq}`);
    } else if (prev !== undefined && r.tsMs < prev.tsMs) {
      orderViolations.push(
        `${r.sensor}: ts ${new Date(r.tsMs).toISOString()} after ${new Date(prev.tsMs).toISOString()}`,
      );
    }
    last.set(r.sensor, r);
  }
  const missing: string[] = [];
  const have = by === "id" ? seen : present;
  for (const k of acked) if (!have.has(k)) missing.push(k.replace("\u0000", " dseq "));
  return { missing, unique: seen.size, duplicates, doubled, orderViolations, unparsable };
}

/** Polls `read` until every acked id is there or the time is up; returns the last verdict. */
export async function waitForDelivery(
  read: () => readonly string[],
  acked: ReadonlySet<string> | ReadonlyMap<string, unknown>,
  timeoutMs: number,
  by: "id" | "message" = "id",
): Promise<Delivery> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const d = checkDelivery(read(), acked.keys(), by);
    if (d.missing.length === 0 || Date.now() > until) return d;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A short description for assertion messages. */
export function describeDelivery(d: Delivery, acked: number): string {
  return `${d.missing.length} of ${acked} acked missing (e.g. ${d.missing.slice(0, 3).join(",")}), ${d.unique} unique, ${d.duplicates} dup lines, ${d.doubled.length} doubled, order: ${d.orderViolations.slice(0, 3).join("; ") || "ok"}`;
}
