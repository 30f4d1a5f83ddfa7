import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomId } from "../../agent/record/ids.js";
import type { NewRecord } from "../../agent/record/record.js";
import { openSpool } from "../../agent/spool/index.js";
import type { SpoolApi } from "../../agent/spool/types.js";
import { Telemetry } from "../../agent/telemetry/telemetry.js";
import type { Bench, BenchRow } from "./types.js";

/**
 * What `spool.key` costs: the same group commits appended to a plain and to an encrypted spool,
 * alternating round by round so both see the same machine load; then a sink's paging read of
 * everything, and the open (scrypt key check, cipher module, key derivation).
 */

const BATCH = 1000;
const KEY = "bench-spool-key-0123456789abcdef";
const T0 = Date.UTC(2026, 10, 22);

function batch(from: number): NewRecord[] {
  return Array.from({ length: BATCH }, (_, i) => {
    const n = from + i;
    const rx = new Date(T0 + n * 10).toISOString();
    return {
      id: randomId(T0 + n * 10),
      sensor: `room-${n % 500}/t1`,
      ts: rx,
      temperature: 20 + (n % 100) / 10,
      source: "bench",
      agent: "pi-bench",
      rx,
    };
  });
}

function open(dir: string, key: string | undefined): { spool: SpoolApi; ms: number } {
  const t = performance.now();
  const spool = openSpool({
    dir,
    sync: "normal",
    maxBytes: 4 * 1024 ** 3,
    maxAgeMs: 7 * 86_400_000,
    onFull: "drop-oldest",
    telemetry: new Telemetry(),
    key,
  });
  spool.setSinks(["out"]);
  return { spool, ms: performance.now() - t };
}

export const run: Bench = async ({ quick }) => {
  const rounds = quick ? 20 : 100;
  const base = mkdtempSync(join(tmpdir(), "edgespool-bench-key-"));
  try {
    const plain = open(join(base, "plain"), undefined);
    const keyed = open(join(base, "keyed"), KEY);
    const ms = { plain: 0, keyed: 0 };
    for (let r = 0; r < rounds; r++) {
      const b = batch(r * BATCH);
      const order = r % 2 === 0 ? (["plain", "keyed"] as const) : (["keyed", "plain"] as const);
      for (const which of order) {
        const spool = which === "plain" ? plain.spool : keyed.spool;
        const t = performance.now();
        spool.append(b);
        ms[which] += performance.now() - t;
      }
      await new Promise((res) => setImmediate(res));
    }
    // Page by page, alternating, like the appends.
    const read = { plain: 0, keyed: 0 };
    const pos = { plain: 0, keyed: 0 };
    for (let more = true; more;) {
      more = false;
      for (const which of ["plain", "keyed"] as const) {
        const spool = which === "plain" ? plain.spool : keyed.spool;
        const t = performance.now();
        const page = spool.read(pos[which], 500);
        read[which] += performance.now() - t;
        if (page.length > 0) {
          pos[which] = page[page.length - 1]!.seq;
          more = true;
        }
      }
    }
    plain.spool.close();
    keyed.spool.close();
    const reopen = { plain: open(join(base, "plain"), undefined), keyed: open(join(base, "keyed"), KEY) };
    reopen.plain.spool.close();
    reopen.keyed.spool.close();

    const n = rounds * BATCH;
    const rate = (t: number) => n / (t / 1000);
    const rows: BenchRow[] = [
      {
        name: "encrypted spool append (records/s)",
        value: rate(ms.keyed),
        unit: "rec/s",
        baselineName: "plain spool append",
        baseline: rate(ms.plain),
        ratio: ms.plain / ms.keyed,
        note: `${rounds} group commits of ${BATCH}, alternating`,
      },
      {
        name: "encrypted spool paging read (records/s)",
        value: rate(read.keyed),
        unit: "rec/s",
        baselineName: "plain spool paging read",
        baseline: rate(read.plain),
        ratio: read.plain / read.keyed,
        note: "pages of 500",
      },
      {
        name: "encrypted spool open (ms)",
        value: reopen.keyed.ms,
        unit: "ms",
        baselineName: "plain spool open",
        baseline: reopen.plain.ms,
        ratio: reopen.keyed.ms / reopen.plain.ms,
        note: `first open incl. loading the cipher module: ${keyed.ms.toFixed(0)} ms`,
      },
    ];
    return rows;
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
};
