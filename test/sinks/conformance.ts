import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { encodeRecord, type OutRecord } from "../../agent/record/record.js";
import { type Sink, type SinkContext, SinkError, type WriteResult } from "../../agent/sinks/sink.js";
import { silentLogger } from "../../agent/telemetry/logger.js";
import { Telemetry } from "../../agent/telemetry/telemetry.js";

/**
 * The contract every sink passes (like aedes-persistence's abstract.js): run it with a real
 * endpoint (temp folder, node:http server, aedes broker, stream) and a reader of what arrived.
 */
export interface Endpoint {
  /** A new sink pointed at this endpoint (not yet started). */
  make(): Sink;
  /** Bodies that arrived, in arrival order. */
  received(): Promise<string[]> | string[];
  /** Makes the endpoint unreachable and back; absent for sinks without one (stdout). */
  outage?: { begin(): Promise<void>; end(): Promise<void> };
  teardown(): Promise<void>;
}

export function testContext(agentId = "pi"): SinkContext {
  const log = silentLogger();
  return { agentId, dataDir: "/nonexistent", log, telemetry: new Telemetry(log) };
}

let seq = 0;
/** Records whose bodies exercise escaping: quotes, backslashes, non-ASCII, U+2028, emoji. */
export function records(n: number, sensor = "kitchen/t1"): OutRecord[] {
  return Array.from({ length: n }, (_, i) => {
    const s = ++seq;
    const tsMs = Date.UTC(2026, 10, 22, 1, 0, 0) + s * 1000;
    const id = `c-conf-${s}`;
    const body = encodeRecord({
      id,
      sensor,
      ts: new Date(tsMs).toISOString(),
      temperature: 20 + (i % 7) / 10,
      humidity: 40.5,
      source: "conf",
      agent: "pi",
      seq: s,
      rx: new Date(tsMs + 5).toISOString(),
      attrs: { note: `"q" \\ é ü 温度 🌡 \u2028 line ${i}`, n: i },
    });
    return { seq: s, id, sensor, tsMs, rxMs: tsMs + 5, body };
  });
}

/** Polls until at least `n` bodies arrived (brokers deliver to subscribers after the PUBACK). */
export async function arrived(
  ep: Pick<Endpoint, "received">,
  n: number,
  timeoutMs = 5000,
): Promise<string[]> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const got = await ep.received();
    if (got.length >= n || Date.now() > until) return got;
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function expectAccepted(res: WriteResult): void {
  expect(res.rejected ?? []).toEqual([]);
  expect(res.retry ?? []).toEqual([]);
}

const signal = new AbortController().signal;

export function sinkConformance(name: string, setup: () => Promise<Endpoint>): void {
  describe(`${name} sink conformance`, () => {
    let ep: Endpoint;
    let sink: Sink;
    beforeEach(async () => {
      ep = await setup();
      sink = ep.make();
      await sink.start();
    });
    afterEach(async () => {
      await sink.close();
      await ep.teardown();
    });

    it("delivers a batch readable in order, bodies byte-identical", async () => {
      const batch = records(25);
      expectAccepted(await sink.write(batch, signal));
      const got = await arrived(ep, batch.length);
      expect(got).toEqual(batch.map((r) => r.body));
      expect(Buffer.from(got.join("\n"))).toEqual(Buffer.from(batch.map((r) => r.body).join("\n")));
    });

    it("accepts an empty batch and delivers nothing", async () => {
      expectAccepted(await sink.write([], signal));
      await new Promise((r) => setTimeout(r, 50));
      expect(await ep.received()).toEqual([]);
    });

    it("appends a second batch after the first", async () => {
      const a = records(3);
      const b = records(4);
      expectAccepted(await sink.write(a, signal));
      expectAccepted(await sink.write(b, signal));
      expect(await arrived(ep, 7)).toEqual([...a, ...b].map((r) => r.body));
    });

    it("closes idempotently", async () => {
      expectAccepted(await sink.write(records(1), signal));
      await Promise.all([sink.close(), sink.close()]);
      await sink.close();
      expect(await arrived(ep, 1)).toHaveLength(1);
    });

    it("fails with a retryable SinkError while the endpoint is away, and recovers", async (ctx) => {
      if (!ep.outage) return ctx.skip();
      expectAccepted(await sink.write(records(1), signal));
      await ep.outage.begin();
      const lost = records(2);
      const err = await sink.write(lost, signal).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(SinkError);
      expect((err as SinkError).retryable).toBe(true);
      expect((err as SinkError).code).toMatch(/^[A-Z0-9_]+$/);
      await ep.outage.end();
      // The shipping loop resends the same batch after a backoff; a few tries cover a reconnect.
      let res: WriteResult | undefined;
      for (let i = 0; i < 100 && !res; i++) {
        res = await sink.write(lost, signal).catch(async () => {
          await new Promise((r) => setTimeout(r, 50));
          return undefined;
        });
      }
      expectAccepted(res!);
      const got = await arrived(ep, 3);
      expect(got.slice(-2)).toEqual(lost.map((r) => r.body));
    });
  });
}
