/** Running window statistics; `last` is the value with the latest event time (ties: latest arrival). */
export interface Stats {
  count: number;
  sum: number;
  min: number;
  max: number;
  last: number;
  lastTs: number;
}

export type StatName = "count" | "min" | "max" | "mean" | "last";

export function emptyStats(): Stats {
  return {
    count: 0,
    sum: 0,
    min: Number.POSITIVE_INFINITY,
    max: Number.NEGATIVE_INFINITY,
    last: Number.NaN,
    lastTs: Number.NEGATIVE_INFINITY,
  };
}

export function addValue(s: Stats, v: number, tsMs: number): void {
  s.count++;
  s.sum += v;
  if (v < s.min) s.min = v;
  if (v > s.max) s.max = v;
  if (tsMs >= s.lastTs) {
    s.last = v;
    s.lastTs = tsMs;
  }
}

/** The configured stats of a window, as record attrs. */
export function statsAttrs(s: Stats, names: readonly StatName[]): Record<string, number> {
  const o: Record<string, number> = {};
  for (const n of names) {
    if (n === "count") o.count = s.count;
    else if (n === "min") o.min = s.min;
    else if (n === "max") o.max = s.max;
    else if (n === "mean") o.mean = Math.round((s.sum / s.count) * 1e6) / 1e6;
    else o.last = s.last;
  }
  return o;
}
