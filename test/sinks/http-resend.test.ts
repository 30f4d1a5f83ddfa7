import { afterEach, describe, expect, it } from "vitest";
import { validateConfig } from "../../agent/config/load.js";
import { createIngest } from "../../agent/pipeline/ingest.js";
import { createHttpSink } from "../../agent/sinks/http/index.js";
import { Telemetry } from "../../agent/telemetry/telemetry.js";
import { NdjsonServer } from "./http-server.js";
import { openTestSpool, startTestShipper } from "../helpers/spool-ingest.js";

/**
 * What a receiver sees when the agent resends: the real spool, shipping loop and http sink in
 * front of a node:http receiver that refuses (503), fails (500) or cuts the connection after
 * reading the body (the receiver may have stored it). Every POST is captured, failed ones too.
 */

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe("http sink resends at the wire", () => {
  it("every resent record carries its first attempt's id, and a resent batch its first Idempotency-Key", async () => {
    const srv = new NdjsonServer();
    const url = await srv.start();
    cleanups.push(() => srv.stop());
    let n = 0;
    srv.reply = (_req, res) => {
      const k = n++ % 4;
      if (k === 0) res.writeHead(503, { "retry-after": "0" }).end("busy");
      else if (k === 1) res.writeHead(500).end("oops");
      else if (k === 2) res.socket?.destroy();
      return k === 3;
    };
    const cfg = validateConfig(
      {
        sinks: [
          {
            type: "http",
            id: "up",
            url,
            maxBatchRecords: 25,
            maxBufferAgeMs: 0,
            retry: { initialMs: 1, maxMs: 5 },
          },
        ],
      },
      "t",
      {},
    ).sinks[0]!;
    if (cfg.type !== "http") throw new Error("expected the http sink config");
    const telemetry = new Telemetry();
    const { spool } = openTestSpool({ telemetry });
    cleanups.push(() => spool.close());
    const sink = createHttpSink(cfg, {
      agentId: "t",
      dataDir: "/nonexistent",
      log: telemetry.log,
      telemetry,
    });
    const shipper = startTestShipper(spool, sink, cfg, telemetry);
    cleanups.push(async () => {
      await shipper.stop(1000);
      await sink.close();
    });
    const ingest = createIngest(spool, telemetry, { agentId: "t", maxCommitRecords: 1000 });
    // Half with a device counter (content ids), half without (random ids, assigned once at ingest).
    const readings = Array.from({ length: 100 }, (_, i) => ({
      sensor: `s${i % 3}`,
      temperature: 20 + i / 10,
      ...(i % 2 === 0 ? { deviceSeq: i } : {}),
    }));
    await ingest.submit("src", readings);
    const deadline = Date.now() + 20_000;
    while (spool.stats().sinks[0]!.depth > 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 10));
    expect(spool.stats().sinks[0]!.depth).toBe(0);

    const firstId = new Map<number, string>();
    const keyOfBody = new Map<string, string>();
    let resent = 0;
    for (const req of srv.requests) {
      for (const line of req.lines) {
        const r = JSON.parse(line) as { seq: number; id: string };
        if (!firstId.has(r.seq)) firstId.set(r.seq, r.id);
        expect(r.id, `seq ${r.seq} resent with another id`).toBe(firstId.get(r.seq));
      }
      // The same batch again: the same key. A different batch: a different key.
      const key = String(req.headers["idempotency-key"]);
      const body = req.lines.join("\n");
      if (keyOfBody.has(body)) {
        expect(key, "a resent batch changed its Idempotency-Key").toBe(keyOfBody.get(body));
        resent++;
      } else {
        expect([...keyOfBody.values()], "two different batches share a key").not.toContain(key);
        keyOfBody.set(body, key);
      }
    }
    expect(resent).toBeGreaterThan(0);
    expect(firstId.size).toBe(100);
    expect(new Set(srv.accepted.map((l) => (JSON.parse(l) as { id: string }).id)).size).toBe(100);
  });
});
