import { rmSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { consumeCommand } from "../../agent/consume/command.js";
import { findGaps } from "../../agent/consume/gaps.js";
import { createKinesisSink } from "../../agent/sinks/kinesis/index.js";
import { encodeRecord, type OutRecord } from "../../agent/record/record.js";
import {
  clientWithStream,
  CREDS,
  type Kinesalite,
  sinkConfig,
  sinkContext,
  startKinesalite,
  tempDir,
} from "./helpers.js";

/** The report computed the slow way: every value between first and last, checked one by one. */
function naive(rows: { sensor: string; dseq: number }[]) {
  const by = new Map<string, Set<number>>();
  for (const r of rows) by.set(r.sensor, (by.get(r.sensor) ?? new Set()).add(r.dseq));
  return [...by.keys()].sort().map((sensor) => {
    const got = [...by.get(sensor)!].sort((a, b) => a - b);
    const first = got[0]!;
    const last = got.at(-1)!;
    const ranges: [number, number][] = [];
    for (let v = first; v <= last; v++) {
      if (by.get(sensor)!.has(v)) continue;
      const open = ranges.at(-1);
      if (open && open[1] === v - 1) open[1] = v;
      else ranges.push([v, v]);
    }
    const missing = ranges.reduce((n, [a, b]) => n + b - a + 1, 0);
    return { sensor, first, last, received: got.length, missing, ranges };
  });
}

describe("findGaps", () => {
  it("equals the value-by-value report for any rows, duplicates included", () => {
    const row = fc.record({ sensor: fc.constantFrom("a", "b", "c"), dseq: fc.nat({ max: 60 }) });
    fc.assert(
      fc.property(fc.array(row, { minLength: 1, maxLength: 200 }), (rows) => {
        const sorted = [...rows].sort((x, y) =>
          x.sensor < y.sensor ? -1 : x.sensor > y.sensor ? 1 : x.dseq - y.dseq,
        );
        expect([...findGaps(sorted, 1000)]).toEqual(naive(rows));
      }),
    );
  });

  it("lists at most maxRanges ranges but counts every missing value", () => {
    const rows = [0, 2, 4, 6, 8].map((dseq) => ({ sensor: "s", dseq }));
    expect([...findGaps(rows, 2)]).toEqual([
      {
        sensor: "s",
        first: 0,
        last: 8,
        received: 5,
        missing: 4,
        ranges: [
          [1, 1],
          [3, 3],
        ],
      },
    ]);
  });
});

describe("edgespool consume --gaps", () => {
  let k: Kinesalite;
  let dir: string;
  beforeAll(async () => {
    k = await startKinesalite();
    dir = tempDir();
  });
  afterAll(async () => {
    await k?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("reports per-device gaps in dseq from what reached the stream", async () => {
    const stream = "gaps";
    const c = await clientWithStream(k.endpoint, stream, 2);
    const lost = new Set([5, 6, 13]);
    const t0 = Date.parse("2026-11-22T01:00:00.000Z");
    const records: OutRecord[] = [];
    for (const sensor of ["a/t1", "b/t1"])
      for (let dseq = 1; dseq <= 20; dseq++) {
        if (sensor === "a/t1" && lost.has(dseq)) continue;
        const seq = records.length + 1;
        const ts = new Date(t0 + dseq * 1000).toISOString();
        const rec = {
          id: `c${sensor[0]}${dseq}`,
          sensor,
          ts,
          temperature: 20,
          source: "t",
          agent: "x",
          seq,
          rx: ts,
          dseq,
        };
        records.push({ seq, id: rec.id, sensor, tsMs: t0, rxMs: t0, body: encodeRecord(rec) });
      }
    // One record without a device counter: not part of the report.
    const plain = {
      id: "rplain",
      sensor: "c/t1",
      ts: new Date(t0).toISOString(),
      temperature: 1,
      source: "t",
      agent: "x",
      seq: 99,
      rx: new Date(t0).toISOString(),
    };
    records.push({
      seq: 99,
      id: plain.id,
      sensor: plain.sensor,
      tsMs: t0,
      rxMs: t0,
      body: encodeRecord(plain),
    });
    const sink = createKinesisSink(sinkConfig(stream, k.endpoint), sinkContext());
    await sink.start();
    expect(await sink.write(records, new AbortController().signal)).toEqual({});
    await sink.close();

    const env = { ...process.env };
    Object.assign(process.env, {
      AWS_ACCESS_KEY_ID: CREDS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: CREDS.secretAccessKey,
      EDGESPOOL_LOG_LEVEL: "silent",
    });
    const out = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    try {
      const args = ["--stream", stream, "--endpoint", k.endpoint, "--region", "us-east-1"];
      await consumeCommand().parseAsync(
        [...args, "--db", join(dir, "c.db"), "--until-idle", "300", "--gaps"],
        {
          from: "user",
        },
      );
      const summary = JSON.parse(out.mock.calls.map((a) => String(a[0])).join("")) as Record<string, unknown>;
      expect(summary).toMatchObject({ stored: 38 });
      expect(summary.gaps).toEqual([
        {
          sensor: "a/t1",
          first: 1,
          last: 20,
          received: 17,
          missing: 3,
          ranges: [
            [5, 6],
            [13, 13],
          ],
        },
        { sensor: "b/t1", first: 1, last: 20, received: 20, missing: 0, ranges: [] },
      ]);
    } finally {
      out.mockRestore();
      process.env = env;
    }
    c.destroy();
  });
});
