import { delivered, type FootprintAgent, procSample, startFootprintAgent } from "./footprint-agent.js";
import { type PacedResult, publishPaced, publishSaturated } from "./footprint-load.js";
import { commitDelaySweep } from "./footprint-sweep.js";
import type { Bench, BenchRow } from "./types.js";

/**
 * What a Raspberry Pi user measures (issue 9): the CLI agent as deployed (child process, embedded
 * broker, http sink into this process, so every byte it writes is the spool's), fed QoS1 readings
 * at a steady 10, 100 and 1,000 per second. Per rate: bytes written to disk per reading
 * (/proc/<pid>/io write_bytes) against the reading's own NDJSON bytes, CPU per reading
 * (/proc/<pid>/stat) against the saturated per-reading cost of the same run, PUBACK p50/p99.
 * Plus idle CPU, RSS idle / under load / after 100k and 1M readings, time to listening, and the
 * 100/s rows again with `sync: "full"`.
 */

const RATES = [10, 100, 1000] as const;

interface Cost {
  readings: number;
  bytesPer: number;
  cpuMsPer: number;
}

/** Counters around `work`, per reading the receiver got in the meantime. */
async function measure(a: FootprintAgent, work: () => Promise<number>): Promise<Cost> {
  const before = procSample(a.pid);
  const readings = await work();
  const after = procSample(a.pid);
  return {
    readings,
    bytesPer: (after.writeBytes - before.writeBytes) / readings,
    cpuMsPer: (after.cpuMs - before.cpuMs) / readings,
  };
}

/** Paced load after a warm-up at the same rate; counts readings once they are delivered. */
async function pacedCost(a: FootprintAgent, rate: number, seconds: number, rss?: number[]) {
  await publishPaced(a.port, rate, 2);
  await delivered(a.receiver, a.receiver.records + 1, 0);
  let paced: PacedResult | undefined;
  const from = a.receiver.records;
  const cost = await measure(a, async () => {
    paced = await publishPaced(a.port, rate, seconds, () => rss?.push(procSample(a.pid).rssMiB));
    await delivered(a.receiver, from + paced.sent, 15_000);
    return paced.sent;
  });
  return { ...cost, ...paced! };
}

function rateRows(label: string, rate: number, c: Cost & PacedResult, record: number, sat: Cost): BenchRow[] {
  const bytesTarget = rate === 100 ? "<= 4x" : rate === 1000 ? "<= 3x" : "report";
  return [
    {
      name: `footprint${label}: bytes written per reading at ${rate}/s`,
      value: c.bytesPer,
      unit: "B/reading",
      baselineName: "the reading's NDJSON bytes",
      baseline: record,
      ratio: c.bytesPer / record,
      target: label ? "report" : bytesTarget,
      note: `${c.readings} readings, /proc/<pid>/io write_bytes`,
    },
    {
      name: `footprint${label}: CPU per reading at ${rate}/s`,
      value: c.cpuMsPer,
      unit: "ms",
      baselineName: "saturated per-reading CPU",
      baseline: sat.cpuMsPer,
      ratio: c.cpuMsPer / sat.cpuMsPer,
      target: rate === 1000 && !label ? "<= 0.08 ms" : "report",
      note: "utime+stime of the agent process",
    },
    {
      name: `footprint${label}: PUBACK p99 at ${rate}/s`,
      value: c.p99,
      unit: "ms",
      target: "<= 300",
      note: `p50 ${c.p50.toFixed(1)} ms; ${c.acked}/${c.sent} acked`,
    },
  ];
}

export const run: Bench = async ({ quick }) => {
  const secs = quick ? 10 : 30;
  const idleSecs = quick ? 20 : 60;
  const satTotal = quick ? 20_000 : 100_000;
  const rows: BenchRow[] = [];
  const a = await startFootprintAgent();
  try {
    await new Promise((r) => setTimeout(r, 2000));
    const idleRss = procSample(a.pid).rssMiB;
    const costs = new Map<number, Cost & PacedResult>();
    const loadRss: number[] = [];
    for (const rate of RATES)
      costs.set(rate, await pacedCost(a, rate, secs, rate === 1000 ? loadRss : undefined));
    // Idle: no input, the sink caught up, after the spool has seen traffic.
    await new Promise((r) => setTimeout(r, 3000));
    const i0 = procSample(a.pid);
    await new Promise((r) => setTimeout(r, idleSecs * 1000));
    const i1 = procSample(a.pid);
    const idleCpuPerMin = ((i1.cpuMs - i0.cpuMs) / (i1.at - i0.at)) * 60_000;
    const idleBytesPerMin = ((i1.writeBytes - i0.writeBytes) / (i1.at - i0.at)) * 60_000;
    const sat = await measure(a, async () => {
      const from = a.receiver.records;
      await publishSaturated(a.port, satTotal);
      await delivered(a.receiver, from + satTotal, 30_000);
      return satTotal;
    });
    await new Promise((r) => setTimeout(r, 2000));
    const rssAfterSat = procSample(a.pid).rssMiB;
    let rss1M: number | undefined;
    if (!quick) {
      const rest = 1_000_000 - a.receiver.records;
      const from = a.receiver.records;
      for (let left = rest; left > 0; left -= 100_000)
        await publishSaturated(a.port, Math.min(100_000, left));
      await delivered(a.receiver, from + rest, 60_000);
      await new Promise((r) => setTimeout(r, 2000));
      rss1M = procSample(a.pid).rssMiB;
    }
    const record = a.receiver.recordBytes;
    rows.push(
      {
        name: "footprint: time from spawn to broker listening",
        value: a.listenMs,
        unit: "ms",
        target: "report",
        note: "node dist/agent/cli/main.js run, embedded broker + http sink",
      },
      {
        name: "footprint: idle CPU per minute",
        value: idleCpuPerMin,
        unit: "ms/min",
        target: "<= 30",
        note: `over ${idleSecs} s, sink caught up; ${Math.round(idleBytesPerMin)} B/min written`,
      },
      {
        name: "footprint: saturated cost per reading (CPU)",
        value: sat.cpuMsPer,
        unit: "ms",
        target: "report",
        note: `${satTotal} readings, 4 publishers x 100 in flight; ${sat.bytesPer.toFixed(0)} B written/reading`,
      },
    );
    for (const rate of RATES) rows.push(...rateRows("", rate, costs.get(rate)!, record, sat));
    const sorted = [...loadRss].sort((x, y) => x - y);
    rows.push(
      { name: "footprint: RSS idle (http sink)", value: idleRss, unit: "MiB", target: "report" },
      {
        name: "footprint: RSS under load (1000/s, median)",
        value: sorted[Math.floor(sorted.length / 2)] ?? Number.NaN,
        unit: "MiB",
        target: "report",
      },
    );
    if (rss1M === undefined) {
      rows.push({
        name: `footprint: RSS after ${Math.round(a.receiver.records / 1000)}k readings`,
        value: rssAfterSat,
        unit: "MiB",
        target: "report",
        note: "the 1M-readings row is in the full run only",
      });
    } else {
      rows.push({
        name: "footprint: RSS after 1M readings",
        value: rss1M,
        unit: "MiB",
        baselineName: "after ~100k readings",
        baseline: rssAfterSat,
        ratio: rss1M / rssAfterSat,
        target: "within a few MiB",
      });
    }
    rows.push({
      name: "footprint: record size (NDJSON as shipped)",
      value: record,
      unit: "B",
      target: "report",
    });
    rows.push(...(await syncFullRows(secs, record, sat)), ...(await fileSinkIdle()));
    if (!quick) rows.push(...(await commitDelaySweep(15)));
  } finally {
    await a.stop();
  }
  return rows;
};

async function syncFullRows(secs: number, record: number, sat: Cost): Promise<BenchRow[]> {
  const a = await startFootprintAgent({ sync: "full" });
  try {
    const c = await pacedCost(a, 100, secs);
    return rateRows(' sync "full"', 100, c, record, sat);
  } finally {
    await a.stop();
  }
}

/** RSS idle with a file sink: the configuration a new user starts with. */
async function fileSinkIdle(): Promise<BenchRow[]> {
  const a = await startFootprintAgent({}, "file");
  try {
    await new Promise((r) => setTimeout(r, 3000));
    return [
      {
        name: "footprint: RSS idle (file sink)",
        value: procSample(a.pid).rssMiB,
        unit: "MiB",
        target: "<= 60",
        note: `listening ${Math.round(a.listenMs)} ms after spawn`,
      },
    ];
  } finally {
    await a.stop();
  }
}
