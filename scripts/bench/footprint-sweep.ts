import { delivered, procSample, startFootprintAgent } from "./footprint-agent.js";
import { publishPaced } from "./footprint-load.js";
import type { BenchRow } from "./types.js";

/**
 * What `spool.commitDelayMs` costs and saves: the same CLI agent and paced QoS1 load as the
 * footprint rows, for each setting and rate, bytes written per reading against PUBACK p99. The
 * README's spool-config table comes from these rows (full run only: 12 agent runs).
 */

export const DELAYS = [0, 20, 100, 250] as const;
const RATES = [10, 100, 1000] as const;

export async function commitDelaySweep(seconds: number): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const delay of DELAYS) {
    const a = await startFootprintAgent({ commitDelayMs: delay });
    try {
      for (const rate of RATES) {
        await publishPaced(a.port, rate, 2);
        const from = a.receiver.records;
        const before = procSample(a.pid);
        const paced = await publishPaced(a.port, rate, seconds);
        await delivered(a.receiver, from + paced.sent, 15_000);
        const after = procSample(a.pid);
        const record = a.receiver.recordBytes;
        const perReading = (after.writeBytes - before.writeBytes) / paced.sent;
        rows.push({
          name: `footprint sweep: commitDelayMs ${delay} at ${rate}/s, bytes written per reading`,
          value: perReading,
          unit: "B/reading",
          baselineName: "the reading's NDJSON bytes",
          baseline: record,
          ratio: perReading / record,
          target: "report",
          note: `PUBACK p50 ${paced.p50.toFixed(0)} ms, p99 ${paced.p99.toFixed(0)} ms; CPU ${(
            (after.cpuMs - before.cpuMs) /
            paced.sent
          ).toFixed(3)} ms/reading`,
        });
      }
    } finally {
      await a.stop();
    }
  }
  return rows;
}
