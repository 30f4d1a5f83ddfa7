import { rmSync } from "node:fs";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { validateConfig } from "../../agent/config/load.js";
import { Shipper } from "../../agent/pipeline/shipper.js";
import { createTransforms } from "../../agent/pipeline/transforms/index.js";
import type { NewRecord } from "../../agent/record/record.js";
import { openSpool } from "../../agent/spool/index.js";
import type { SpoolApi, SpoolStats } from "../../agent/spool/types.js";
import { Telemetry } from "../../agent/telemetry/telemetry.js";
import { tempDir } from "../helpers/agent-process.js";
import { type Fault, GatedSink } from "../helpers/gated-sink.js";

/**
 * The accounting identity under random fault schedules: for every sink,
 * shipped + Σ dropped (by reason, dead letters included) + depth = records stored, and
 * `edgespool_shipped_total` equals the spool's own shipped count. A real SQLite spool and the
 * real stdout sink behind a gate (GatedSink), so retention, trims, restarts and failing settles
 * (SQLITE_BUSY injected in front of the real spool) happen while a batch is in flight.
 */

const MAX_AGE = 60_000;
const T0 = Date.UTC(2026, 10, 22);

const faultArb: fc.Arbitrary<Fault> = fc.oneof(
  fc.constant<Fault>({ kind: "ok" }),
  fc.constant<Fault>({ kind: "down" }),
  fc.constant<Fault>({ kind: "refuse-all" }),
  fc.record({
    kind: fc.constant("partial" as const),
    reject: fc.array(fc.nat(20), { maxLength: 4 }),
    retry: fc.array(fc.nat(20), { maxLength: 4 }),
  }),
);

type Step =
  | { op: "append"; n: number }
  | { op: "write"; sink: 0 | 1; fault: Fault; during: "nothing" | "expire" | "trim"; settleFails: number }
  | { op: "restart" };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({ op: fc.constant("append" as const), n: fc.integer({ min: 1, max: 40 }) }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      op: fc.constant("write" as const),
      sink: fc.constantFrom(0 as const, 1 as const),
      fault: faultArb,
      during: fc.constantFrom("nothing" as const, "expire" as const, "trim" as const),
      settleFails: fc.integer({ min: 0, max: 2 }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ op: "restart" as const }) },
);

function sinkCfg(id: string, transforms: unknown[] = []) {
  const cfg = validateConfig(
    {
      sinks: [
        {
          type: "stdout",
          id,
          maxBufferAgeMs: 0,
          maxBatchRecords: 16,
          retry: { initialMs: 1, maxMs: 4 },
          transforms,
        },
      ],
    },
    "t",
    {},
  );
  return cfg.sinks[0]!;
}

/** The real spool, with `settle` failing SQLITE_BUSY while `failures > 0` (a fault in front of it). */
function flakySettle(spool: SpoolApi, state: { failures: number }): SpoolApi {
  return new Proxy(spool, {
    get(target, prop) {
      if (prop === "settle")
        return (...args: Parameters<SpoolApi["settle"]>) => {
          if (state.failures > 0) {
            state.failures--;
            throw Object.assign(new Error("database is locked"), { code: "SQLITE_BUSY" });
          }
          return target.settle(...args);
        };
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 5));
  }
  return true;
}

async function runSchedule(
  steps: Step[],
  onFull: "drop-oldest" | "drop-newest",
): Promise<{ stats: SpoolStats; counted: Map<string, number> }> {
  const dir = tempDir("edgespool-accounting-");
  dirs.push(dir);
  let now = T0;
  const telemetry = new Telemetry();
  const faults = { failures: 0 };
  const sinks = [new GatedSink("plain"), new GatedSink("filtered")];
  const cfgs = [sinkCfg("plain"), sinkCfg("filtered", [{ type: "filter", expression: "temperature >= 20" }])];
  let spool!: SpoolApi;
  let shippers: Shipper[] = [];
  const start = () => {
    spool = openSpool({
      dir,
      sync: "normal",
      maxBytes: 24 * 1024,
      maxAgeMs: MAX_AGE,
      onFull,
      telemetry,
      now: () => now,
    });
    spool.setSinks(cfgs.map((c) => c.id));
    const flaky = flakySettle(spool, faults);
    shippers = cfgs.map(
      (c, i) =>
        new Shipper(
          flaky,
          sinks[i]!.sink,
          c,
          () => createTransforms(c.transforms, { agentId: "t" }),
          telemetry,
          {
            idlePollMs: 2,
          },
        ),
    );
    for (const s of shippers) s.start();
  };
  const stop = async () => {
    await Promise.all(shippers.map((s) => s.stop(20)));
    spool.close();
  };
  start();
  let next = 0;
  try {
    for (const step of steps) {
      if (step.op === "append") {
        const recs: NewRecord[] = Array.from({ length: step.n }, () => {
          const i = next++;
          const rx = new Date(now).toISOString();
          return {
            id: `r${i}`,
            sensor: `s${i % 3}`,
            ts: rx,
            rx,
            temperature: 15 + (i % 11),
            source: "t",
            agent: "t",
          };
        });
        spool.append(recs);
        now += 1000;
      } else if (step.op === "write") {
        const gate = sinks[step.sink]!;
        if (!(await gate.pending(200))) continue;
        faults.failures = step.settleFails;
        // While the batch is in flight: everything read so far expires, or the oldest are trimmed.
        if (step.during === "expire") {
          now += MAX_AGE + 1;
          spool.enforceRetention();
        } else if (step.during === "trim") {
          spool.append(
            Array.from({ length: 60 }, () => {
              const i = next++;
              const rx = new Date(now).toISOString();
              return { id: `r${i}`, sensor: "bulk", ts: rx, rx, temperature: 21, source: "t", agent: "t" };
            }),
          );
        }
        gate.release(step.fault);
      } else {
        await stop();
        start();
      }
    }
    // Recovery: every fault gone, each sink drains to depth 0.
    faults.failures = 0;
    for (const g of sinks) g.open();
    const drained = await until(() => spool.stats().sinks.every((s) => s.depth === 0), 15_000);
    expect(drained, JSON.stringify(spool.stats())).toBe(true);
    const stats = spool.stats();
    const counted = new Map<string, number>();
    for (const v of (await telemetry.shipped.get()).values) counted.set(String(v.labels.sink), v.value);
    return { stats, counted };
  } finally {
    await stop();
  }
}

describe("accounting identity", () => {
  it("shipped + dropped + depth = stored for every sink, whatever fails when", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(stepArb, { minLength: 5, maxLength: 30 }),
        // drop-newest: readings refused at a full spool get no seq and are in no sink's count.
        fc.constantFrom("drop-oldest" as const, "drop-newest" as const),
        async (steps, onFull) => {
          const { stats, counted } = await runSchedule(steps, onFull);
          for (const s of stats.sinks) {
            const dropped = Object.values(s.dropped).reduce((a, b) => a + b, 0);
            // Both sinks existed before the first record: stored for each = every seq ever used.
            expect(s.shipped + dropped + s.depth, `${s.sink}: ${JSON.stringify(s)}`).toBe(stats.lastSeq);
            expect(s.dropped["dead-letter"] ?? 0).toBe(s.deadLetters);
            expect(counted.get(s.sink) ?? 0, `edgespool_shipped_total{sink="${s.sink}"}`).toBe(s.shipped);
          }
        },
      ),
      { numRuns: 25 },
    );
  }, 240_000);
});
