/**
 * The delivery verdict every torture test asserts: each acknowledged reading is in a sink's output,
 * once after dropping duplicate ids, and a sensor's records appear in spool order.
 */

export interface ShippedRecord {
  id: string;
  sensor: string;
  seq: number;
}

export interface Delivery {
  /** Acknowledged ids absent from the output. */
  missing: string[];
  /** Distinct ids in the output. */
  unique: number;
  /** Lines whose id was already seen (retries across crashes; allowed, dropped by id). */
  duplicates: number;
  /** `sensor: seq a after seq b` for every first occurrence that went backwards. */
  orderViolations: string[];
  /** Lines that are not records. */
  unparsable: number;
}

export function parseRecords(lines: readonly string[]): { records: ShippedRecord[]; unparsable: number } {
  const records: ShippedRecord[] = [];
  let unparsable = 0;
  for (const l of lines) {
    try {
      const r = JSON.parse(l) as Partial<ShippedRecord>;
      if (typeof r.id === "string" && typeof r.sensor === "string" && typeof r.seq === "number")
        records.push({ id: r.id, sensor: r.sensor, seq: r.seq });
      else unparsable++;
    } catch {
      unparsable++;
    }
  }
  return { records, unparsable };
}

export function checkDelivery(lines: readonly string[], acked: Iterable<string>): Delivery {
  const { records, unparsable } = parseRecords(lines);
  const seen = new Set<string>();
  const lastSeq = new Map<string, number>();
  const orderViolations: string[] = [];
  let duplicates = 0;
  for (const r of records) {
    if (seen.has(r.id)) {
      duplicates++;
      continue;
    }
    seen.add(r.id);
    const prev = lastSeq.get(r.sensor);
    if (prev !== undefined && r.seq <= prev) orderViolations.push(`${r.sensor}: seq ${r.seq} after ${prev}`);
    lastSeq.set(r.sensor, r.seq);
  }
  const missing: string[] = [];
  for (const id of acked) if (!seen.has(id)) missing.push(id);
  return { missing, unique: seen.size, duplicates, orderViolations, unparsable };
}

/** Polls `read` until every acked id is there or the time is up; returns the last verdict. */
export async function waitForDelivery(
  read: () => readonly string[],
  acked: ReadonlySet<string> | ReadonlyMap<string, unknown>,
  timeoutMs: number,
): Promise<Delivery> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const d = checkDelivery(read(), acked.keys());
    if (d.missing.length === 0 || Date.now() > until) return d;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A short description for assertion messages. */
export function describeDelivery(d: Delivery, acked: number): string {
  return `${d.missing.length} of ${acked} acked missing (e.g. ${d.missing.slice(0, 3).join(",")}), ${d.unique} unique, ${d.duplicates} dup lines, order: ${d.orderViolations.slice(0, 3).join("; ") || "ok"}`;
}
