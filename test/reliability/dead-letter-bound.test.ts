import { statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { freePort, tempDir } from "../helpers/agent-process.js";
import {
  agentConfig,
  brokerSource,
  httpSink,
  startAgentProcess,
  tortureParts,
} from "../helpers/reliability-agent.js";
import { NdjsonReceiver } from "../helpers/reliability-http.js";
import { FleetLoad, sleep } from "../helpers/reliability-load.js";
import { metricSum, scrape, statusJson } from "../helpers/reliability-proc.js";

/**
 * Issue 10, failure 2: an http sink answering 400 to everything turns every reading into a dead
 * letter. With spool.maxBytes 1 MiB the dead letters must stay within their bound (a tenth of
 * maxBytes by default), the oldest deleted first and counted, and spool.db must stay near
 * maxBytes instead of growing with every reading (it reached 47× the limit before).
 */

const t = tortureParts();

const MAX_BYTES = 1024 * 1024;
const READINGS = 30_000;

describe("dead letters are bounded", () => {
  it("400 to everything: dead letters stay within their bound and spool.db near maxBytes", async () => {
    const dir = tempDir("edgespool-deadbound-");
    const port = await freePort();
    const metricsPort = await freePort();
    t.receiver = new NdjsonReceiver();
    await t.receiver.start(0);
    t.receiver.answer(400);
    const cfg = agentConfig(dir, {
      sources: [brokerSource(port)],
      sinks: [httpSink(t.receiver.url, { timeoutMs: 1000, maxBatchRecords: 1000 })],
      spool: { maxBytes: MAX_BYTES },
      metricsPort,
    });
    t.agent = await startAgentProcess(dir, cfg, port);
    t.load = new FleetLoad({ port, rooms: 16, ratePerSec: 4000, clients: 4 });
    t.load.start();
    const until = Date.now() + 90_000;
    while (t.load.acked.size < READINGS && Date.now() < until) await sleep(200);
    await t.load.stop();
    expect(t.load.acked.size).toBeGreaterThanOrEqual(READINGS);

    // Everything read and refused, then one housekeeping pass (5 s) to hand back free pages.
    const file = join(dir, "config.json");
    for (let i = 0; i < 100; i++) {
      const st = await statusJson(file);
      if (st.sinks[0]!.depth === 0) break;
      await sleep(300);
    }
    await sleep(6000);
    const st = (await statusJson(file)) as Awaited<ReturnType<typeof statusJson>> & {
      deadLetterBytes: number;
      deadLettersEvicted: number;
    };
    const sink = st.sinks[0]!;
    expect(sink.depth).toBe(0);
    expect(sink.dropped["dead-letter"]).toBe(st.lastSeq);
    expect(st.deadLetterBytes).toBeGreaterThan(0);
    expect(st.deadLetterBytes).toBeLessThanOrEqual(MAX_BYTES / 10);
    expect(st.deadLettersEvicted).toBeGreaterThan(0);
    const evicted = metricSum(await scrape(metricsPort), "edgespool_dead_letters_evicted_total");
    expect(evicted).toBe(st.deadLettersEvicted);
    const dbBytes = statSync(join(dir, "data", "spool.db")).size;
    console.log(
      `dead-letter bound: spool.db ${dbBytes} B, dead letters ${st.deadLetterBytes} B, evicted ${evicted}, readings ${st.lastSeq}`,
    );
    expect(dbBytes).toBeLessThanOrEqual(2 * MAX_BYTES);
  }, 180_000);
});
