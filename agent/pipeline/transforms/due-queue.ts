/**
 * A min-heap of (at, key): which key comes due first. Entries are never updated in place; a key
 * whose due time changed is pushed again and the caller skips stale entries on `pop` (lazy
 * deletion), which keeps each operation O(log n) without an index.
 */
export class DueQueue<K> {
  private readonly heap: { at: number; key: K }[] = [];

  get size(): number {
    return this.heap.length;
  }

  push(at: number, key: K): void {
    const h = this.heap;
    h.push({ at, key });
    for (let i = h.length - 1; i > 0;) {
      const p = (i - 1) >> 1;
      if (h[p]!.at <= h[i]!.at) break;
      [h[p], h[i]] = [h[i]!, h[p]!];
      i = p;
    }
  }

  /** Removes and returns the earliest entry if it is due by `now`. */
  popDue(now: number): { at: number; key: K } | undefined {
    const h = this.heap;
    if (h.length === 0 || h[0]!.at > now) return undefined;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      for (let i = 0; ;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && h[l]!.at < h[m]!.at) m = l;
        if (r < h.length && h[r]!.at < h[m]!.at) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i]!, h[m]!];
        i = m;
      }
    }
    return top;
  }

  clear(): void {
    this.heap.length = 0;
  }
}
