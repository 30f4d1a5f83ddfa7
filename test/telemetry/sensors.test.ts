import type { IncomingMessage } from "node:http";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { validateConfig } from "../../agent/config/load.js";
import { BUCKET_MS, POINTS, SensorTracker } from "../../agent/telemetry/sensors.js";
import { checkAuth, isLoopback } from "../../agent/telemetry/status-page.js";

describe("SensorTracker (the status page's history)", () => {
  it("keeps at most POINTS buckets of the last hour per sensor, each the mean of its readings", () => {
    let t = Date.UTC(2026, 11, 1, 12, 0, 0);
    const tracker = new SensorTracker(10, () => t);
    // Two hours at 4 readings per bucket.
    for (let i = 0; i < 2 * POINTS * 4; i++) {
      tracker.record("src", [{ sensor: "kitchen", temperature: i % 4 === 0 ? 20 : 22, humidity: 50 }]);
      t += BUCKET_MS / 4;
    }
    t -= BUCKET_MS / 4; // the time of the last reading
    const [view] = tracker.view();
    expect(view!.points.length).toBe(POINTS);
    expect(view!.points.every(([, temp, hum]) => temp === 21.5 && hum === 50)).toBe(true);
    expect(view!.points[0]![0]).toBeGreaterThan(t - 3_600_000 - BUCKET_MS);
    expect(view!.temperature).toBe(22);
    expect(tracker.view(t - BUCKET_MS)[0]!.points.length).toBeLessThanOrEqual(2);
  });

  it("never holds more than maxSensors sensors and evicts the least recently seen", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 3 })), {
          maxLength: 200,
        }),
        (max, steps) => {
          let t = 0;
          const tracker = new SensorTracker(max, () => t);
          const lastSeen = new Map<string, number>();
          for (const [s, dtBuckets] of steps) {
            t += dtBuckets * BUCKET_MS;
            tracker.record("src", [{ sensor: `s${s}`, temperature: s }]);
            lastSeen.set(`s${s}`, t);
          }
          const kept = tracker.view().map((v) => v.sensor);
          expect(kept.length).toBeLessThanOrEqual(max);
          // Whatever was kept was seen at least as recently as what was evicted, to the bucket.
          const evicted = [...lastSeen.keys()].filter((s) => !kept.includes(s));
          const keptMin = Math.min(...kept.map((s) => Math.floor(lastSeen.get(s)! / BUCKET_MS)));
          for (const e of evicted)
            expect(Math.floor(lastSeen.get(e)! / BUCKET_MS)).toBeLessThanOrEqual(keptMin);
        },
      ),
    );
  });

  it("counts readings per bucket for the ingest-rate chart", () => {
    let t = 9 * BUCKET_MS + 1;
    const tracker = new SensorTracker(10, () => t);
    t = 10 * BUCKET_MS;
    tracker.record(
      "src",
      Array.from({ length: 50 }, (_, i) => ({ sensor: `s${i}`, temperature: 1 })),
    );
    t += BUCKET_MS;
    // Nothing before the tracker started (bucket 9).
    const rate = tracker.ingestRate(0);
    expect(rate).toEqual([
      [9 * BUCKET_MS, 0],
      [10 * BUCKET_MS, 50 / (BUCKET_MS / 1000)],
      [11 * BUCKET_MS, 0],
    ]);
  });
});

describe("status page auth", () => {
  const http = (extra: object) =>
    validateConfig({ sinks: [{ type: "stdout", id: "o" }], http: extra }, "t", {}).http;
  const req = (authorization?: string) => ({ headers: { authorization } }) as unknown as IncomingMessage;
  const url = (q = "") => new URL(`http://agent/${q}`);

  it("is open on loopback without auth and closed elsewhere until auth is configured", () => {
    expect(isLoopback("127.0.0.1") && isLoopback("::1") && isLoopback("localhost")).toBe(true);
    expect(isLoopback("0.0.0.0") || isLoopback("192.168.1.5") || isLoopback("::")).toBe(false);
    expect(checkAuth(http({}), req(), url())).toBe("ok");
    expect(checkAuth(http({ host: "0.0.0.0" }), req(), url())).toBe("not-configured");
  });

  it("accepts the token as a bearer header or ?token=, and basic auth, and nothing else", () => {
    const token = http({ host: "0.0.0.0", auth: { token: "0123456789abcdef" } });
    expect(checkAuth(token, req("Bearer 0123456789abcdef"), url())).toBe("ok");
    expect(checkAuth(token, req(), url("?token=0123456789abcdef"))).toBe("ok");
    expect(checkAuth(token, req("Bearer 0123456789abcdeX"), url())).toBe("unauthorized");
    expect(checkAuth(token, req(), url())).toBe("unauthorized");
    const basic = http({ host: "0.0.0.0", auth: { username: "pi", password: "raspberry1" } });
    const b64 = (s: string) => `Basic ${Buffer.from(s).toString("base64")}`;
    expect(checkAuth(basic, req(b64("pi:raspberry1")), url())).toBe("ok");
    expect(checkAuth(basic, req(b64("pi:raspberry2")), url())).toBe("unauthorized");
    expect(checkAuth(basic, req(b64("pi")), url())).toBe("unauthorized");
    // Auth configured on loopback applies there too.
    expect(checkAuth(http({ auth: { token: "0123456789abcdef" } }), req(), url())).toBe("unauthorized");
  });
});
