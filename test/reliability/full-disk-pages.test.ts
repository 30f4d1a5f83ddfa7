import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { createIngest } from "../../agent/pipeline/ingest.js";
import type { Reading } from "../../agent/record/record.js";
import type { IngestOutcome } from "../../agent/sources/source.js";
import { openSpool } from "../../agent/spool/index.js";
import { Telemetry } from "../../agent/telemetry/telemetry.js";

/**
 * The full-disk contract without a mount: the spool's `maxPageCount` makes SQLite report
 * SQLITE_FULL at a few hundred KiB. Through the real ingest queue (what sources wait on before
 * PUBACK): under `block`, submissions stay unresolved while full and resolve once a sink's ack
 * and a reclaim free pages; under `drop-oldest`, every submission resolves and the drops are
 * counted. The database passes its integrity check either way.
 */

const reading = (i: number): Reading => ({
  sensor: `room${i % 4}/t`,
  temperature: 20 + (i % 10) / 10,
  deviceSeq: i,
  attrs: { pad: "x".repeat(400) },
});

function setup(onFull: "block" | "drop-oldest") {
  const dir = join(mkdtempSync(join(tmpdir(), "edgespool-pages-")), "data");
  const telemetry = new Telemetry();
  const spool = openSpool({
    dir,
    sync: "normal",
    maxBytes: 512 * 1024 * 1024,
    maxAgeMs: 86_400_000,
    onFull,
    telemetry,
    maxPageCount: 120,
  });
  spool.setSinks(["out"]);
  const ingest = createIngest(spool, telemetry, { agentId: "pages", maxCommitRecords: 50 });
  return { dir, spool, ingest, telemetry };
}

function integrity(dir: string): string {
  const db = new Database(join(dir, "spool.db"), { readonly: true });
  try {
    return db.pragma("integrity_check", { simple: true }) as string;
  } finally {
    db.close();
  }
}

describe("full disk via maxPageCount, through the ingest queue", () => {
  it("block: acknowledgements wait while full and resume when a sink frees space", async () => {
    const { dir, spool, ingest } = setup("block");
    let resolved = 0;
    const all: Promise<IngestOutcome>[] = [];
    for (let i = 0; i < 2000; i++) {
      const p = ingest.submit("m", [reading(i)]);
      void p.then(() => resolved++);
      all.push(p);
      if (i % 50 === 49) await new Promise((r) => setImmediate(r));
    }
    await new Promise((r) => setTimeout(r, 300));
    const whileFull = resolved;
    expect(whileFull, "some fit before the disk filled").toBeGreaterThan(0);
    expect(whileFull, "the rest must wait (no PUBACK)").toBeLessThan(2000);
    await new Promise((r) => setTimeout(r, 300));
    expect(resolved, "nothing resolves while still full").toBe(whileFull);

    // A sink ships everything stored so far; its ack deletes the rows, reclaim frees the pages.
    for (let round = 0; round < 200 && resolved < 2000; round++) {
      spool.ack("out", spool.stats().lastSeq, 0);
      spool.reclaim();
      await new Promise((r) => setTimeout(r, 20));
    }
    const outcomes = await Promise.all(all);
    expect(outcomes.reduce((a, o) => a + o.stored, 0)).toBe(2000);
    expect(spool.stats().sinks[0]!.dropped["spool-full"] ?? 0).toBe(0);
    await ingest.close();
    spool.close();
    expect(integrity(dir)).toBe("ok");
  });

  it("drop-oldest: every submission resolves and the drops are counted", async () => {
    const { dir, spool, ingest } = setup("drop-oldest");
    const outcomes = await Promise.all(
      Array.from({ length: 2000 }, (_, i) => ingest.submit("m", [reading(i)])),
    );
    expect(outcomes.reduce((a, o) => a + o.stored, 0)).toBe(2000);
    const st = spool.stats();
    expect(st.sinks[0]!.dropped["spool-full"]).toBe(2000 - st.records);
    expect(st.records).toBeGreaterThan(0);
    expect(st.records).toBeLessThan(2000);
    await ingest.close();
    spool.close();
    expect(integrity(dir)).toBe("ok");
  });
});
