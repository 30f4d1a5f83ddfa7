import { rmSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { createIngest } from "../../agent/pipeline/ingest.js";
import { openSpool } from "../../agent/spool/index.js";
import type { SpoolApi } from "../../agent/spool/types.js";
import { Telemetry } from "../../agent/telemetry/telemetry.js";
import { tempDir } from "../helpers/agent-process.js";

/**
 * In a group commit each sender learns the fate of its own readings (the spool reports one per
 * record), not a share of the group's totals handed out from the earliest sender on.
 */

const open: { spool: SpoolApi; dir: string }[] = [];
afterEach(() => {
  for (const o of open.splice(0)) {
    o.spool.close();
    rmSync(o.dir, { recursive: true, force: true });
  }
});

function setup(onFull: "drop-newest" | "drop-oldest", maxBytes = 1e9) {
  const dir = tempDir("edgespool-outcomes-");
  const telemetry = new Telemetry();
  const spool = openSpool({ dir, sync: "normal", maxBytes, maxAgeMs: 1e9, onFull, telemetry });
  spool.setSinks(["a"]);
  open.push({ spool, dir });
  return { spool, ingest: createIngest(spool, telemetry, { agentId: "t", maxCommitRecords: 10_000 }) };
}

const reading = (deviceSeq: number, pad = 0) => ({
  sensor: "s",
  temperature: 20,
  deviceSeq,
  ...(pad > 0 ? { attrs: { pad: "x".repeat(pad) } } : {}),
});

describe("per-sender outcomes in one group commit", () => {
  it("a duplicate is reported to the sender that sent it", async () => {
    const { ingest } = setup("drop-oldest");
    await ingest.submit("src", [reading(1)]);
    // Same event-loop turn: one commit. The first sender's reading is new, the second's is not.
    const [fresh, again] = await Promise.all([
      ingest.submit("src", [reading(2)]),
      ingest.submit("src", [reading(1)]),
    ]);
    expect(fresh).toEqual({ stored: 1, duplicates: 0, dropped: 0 });
    expect(again).toEqual({ stored: 0, duplicates: 1, dropped: 0 });
  });

  it("under drop-newest the readings refused are the later sender's, and it is told so", async () => {
    const { ingest } = setup("drop-newest", 1500);
    const [first, second] = await Promise.all([
      ingest.submit("src", [reading(1, 400)]),
      ingest.submit("src", [reading(2, 400), reading(3, 400), reading(4, 400)]),
    ]);
    expect(first).toEqual({ stored: 1, duplicates: 0, dropped: 0 });
    expect(second.stored + second.dropped).toBe(3);
    expect(second.dropped).toBeGreaterThan(0);
  });
});
