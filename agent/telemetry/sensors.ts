import type { Reading } from "../record/record.js";

/** Chart resolution: an hour in 360 buckets of 10 s, each holding the mean of what arrived in it. */
export const BUCKET_MS = 10_000;
export const POINTS = 360;

/** One chart point: bucket start (epoch ms), mean temperature, mean humidity or null. */
export type Point = [t: number, temperature: number, humidity: number | null];

export interface SensorView {
  sensor: string;
  source: string;
  /** Receive time of the latest reading, epoch ms. */
  lastSeenMs: number;
  temperature: number;
  humidity: number | null;
  /** Device timestamp of the latest reading, when the device sent one. */
  deviceTs: number | null;
  /** Oldest first, within the last hour (and after `sinceMs` when asked). */
  points: Point[];
}

/**
 * A fixed ring of POINTS buckets per sensor, keyed by receive time (devices without an RTC send
 * no usable timestamps). Memory is POINTS × 14 bytes of samples per sensor (about 6 KB with the
 * object around them) whatever the rate.
 */
class Series {
  readonly bucket = new Int32Array(POINTS).fill(-1);
  readonly temp = new Float32Array(POINTS);
  readonly hum = new Float32Array(POINTS);
  readonly count = new Uint16Array(POINTS);
  lastBucket = -1;
  lastSeenMs = 0;
  source = "";
  temperature = 0;
  humidity: number | null = null;
  deviceTs: number | null = null;

  add(b: number, r: Reading): void {
    const i = b % POINTS;
    if (this.bucket[i] !== b) {
      this.bucket[i] = b;
      this.count[i] = 0;
      this.temp[i] = 0;
      this.hum[i] = Number.NaN;
    }
    const n = Math.min(this.count[i]! + 1, 0xffff);
    this.count[i] = n;
    this.temp[i] = this.temp[i]! + (r.temperature - this.temp[i]!) / n;
    if (r.humidity !== undefined) {
      const h = this.hum[i]!;
      this.hum[i] = Number.isNaN(h) ? r.humidity : h + (r.humidity - h) / n;
    }
  }

  points(fromBucket: number): Point[] {
    const out: Point[] = [];
    for (let b = fromBucket; b <= this.lastBucket; b++) {
      const i = b % POINTS;
      if (this.bucket[i] !== b) continue;
      const h = this.hum[i]!;
      out.push([b * BUCKET_MS, round(this.temp[i]!), Number.isNaN(h) ? null : round(h)]);
    }
    return out;
  }
}

const round = (v: number) => Math.round(v * 100) / 100;

/**
 * What the status page charts: the latest reading and an hour of history per sensor, for at most
 * `maxSensors` sensors (the least recently seen is evicted), plus readings per bucket for the
 * ingest-rate chart. Fed once per submission after its commit; O(readings) with no allocation
 * except for a sensor's first reading.
 */
export class SensorTracker {
  private readonly sensors = new Map<string, Series>();
  private readonly rateBucket = new Int32Array(POINTS).fill(-1);
  private readonly rateCount = new Uint32Array(POINTS);
  /** Sensors dropped from the page to stay within maxSensors. */
  evicted = 0;
  /** The rate chart starts when the agent did, not an hour of zeros before it. */
  private readonly firstBucket: number;

  constructor(
    readonly maxSensors: number,
    private readonly now: () => number = Date.now,
  ) {
    this.firstBucket = Math.floor(now() / BUCKET_MS);
  }

  record(source: string, readings: readonly Reading[]): void {
    const t = this.now();
    const b = Math.floor(t / BUCKET_MS);
    const ri = b % POINTS;
    if (this.rateBucket[ri] !== b) {
      this.rateBucket[ri] = b;
      this.rateCount[ri] = 0;
    }
    this.rateCount[ri] = this.rateCount[ri]! + readings.length;
    for (const r of readings) {
      let s = this.sensors.get(r.sensor);
      if (s === undefined) {
        if (this.sensors.size >= this.maxSensors) this.evictOldest();
        s = new Series();
        this.sensors.set(r.sensor, s);
      } else if (s.lastBucket !== b) {
        // Re-inserting keeps the map in least-recently-seen order; once per bucket is enough.
        this.sensors.delete(r.sensor);
        this.sensors.set(r.sensor, s);
      }
      s.add(b, r);
      s.lastBucket = b;
      s.lastSeenMs = t;
      s.source = source;
      s.temperature = r.temperature;
      s.humidity = r.humidity ?? null;
      s.deviceTs = r.deviceTs ?? null;
    }
  }

  private evictOldest(): void {
    const oldest = this.sensors.keys().next();
    if (oldest.done) return;
    this.sensors.delete(oldest.value);
    this.evicted++;
  }

  /** Every sensor, by name, with points from the last hour that start at or after `sinceMs`. */
  view(sinceMs = 0): SensorView[] {
    const nowB = Math.floor(this.now() / BUCKET_MS);
    const from = Math.max(nowB - POINTS + 1, Math.floor(sinceMs / BUCKET_MS));
    return [...this.sensors.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([sensor, s]) => ({
        sensor,
        source: s.source,
        lastSeenMs: s.lastSeenMs,
        temperature: s.temperature,
        humidity: s.humidity,
        deviceTs: s.deviceTs,
        points: s.points(from),
      }));
  }

  /**
   * Readings per second in each 10 s bucket of the last hour (and after `sinceMs`), oldest first;
   * the bucket still filling is divided by the time it has run, so the chart does not dip at its end.
   */
  ingestRate(sinceMs = 0): [t: number, perSecond: number][] {
    const now = this.now();
    const nowB = Math.floor(now / BUCKET_MS);
    const out: [number, number][] = [];
    const from = Math.max(nowB - POINTS + 1, this.firstBucket, Math.floor(sinceMs / BUCKET_MS));
    for (let b = from; b <= nowB; b++) {
      const i = b % POINTS;
      const seconds = b === nowB ? Math.max(1, (now - b * BUCKET_MS) / 1000) : BUCKET_MS / 1000;
      out.push([b * BUCKET_MS, this.rateBucket[i] === b ? this.rateCount[i]! / seconds : 0]);
    }
    return out;
  }
}
