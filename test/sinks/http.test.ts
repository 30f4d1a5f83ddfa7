import { afterEach, describe, expect, it } from "vitest";
import { httpSinkSchema } from "../../agent/sinks/http/config.js";
import { createHttpSink } from "../../agent/sinks/http/index.js";
import { parseRetryAfter } from "../../agent/sinks/http/response.js";
import { type Sink, SinkError } from "../../agent/sinks/sink.js";
import { captureLog } from "../helpers/capture-log.js";
import { expectAccepted, records, sinkConformance, testContext } from "./conformance.js";
import { NdjsonServer } from "./http-server.js";

const signal = new AbortController().signal;
const servers: NdjsonServer[] = [];
const sinks: Sink[] = [];

async function serve(): Promise<{ srv: NdjsonServer; url: string }> {
  const srv = new NdjsonServer();
  servers.push(srv);
  return { srv, url: await srv.start() };
}

function make(url: string, extra: Record<string, unknown> = {}, ctx = testContext()): Sink {
  const s = createHttpSink(httpSinkSchema.parse({ type: "http", id: "up", url, ...extra }), ctx);
  sinks.push(s);
  return s;
}

afterEach(async () => {
  for (const s of sinks.splice(0)) await s.close();
  for (const s of servers.splice(0)) await s.stop();
});

for (const gzip of [false, true]) {
  sinkConformance(gzip ? "http (gzip)" : "http", async () => {
    const srv = new NdjsonServer();
    const url = await srv.start();
    return {
      make: () => createHttpSink(httpSinkSchema.parse({ type: "http", id: "up", url, gzip }), testContext()),
      received: () => srv.accepted,
      outage: { begin: () => srv.stop(), end: async () => void (await srv.start(srv.port)) },
      teardown: () => srv.stop(),
    };
  });
}

describe("http sink", () => {
  it("sends NDJSON with content-type, custom headers and gzip, over one keep-alive connection", async () => {
    const { srv, url } = await serve();
    const sink = make(url, { gzip: true, headers: { authorization: "Bearer s3cret" } });
    await sink.start();
    const a = records(3);
    const b = records(3);
    expectAccepted(await sink.write(a, signal));
    expectAccepted(await sink.write(b, signal));
    expect(srv.requests[0]!.headers).toMatchObject({
      "content-type": "application/x-ndjson",
      "content-encoding": "gzip",
      authorization: "Bearer s3cret",
    });
    expect(srv.accepted).toEqual([...a, ...b].map((r) => r.body));
    expect(srv.connections).toBe(1);
  });

  it("keeps the Idempotency-Key of a batch across retries; another batch gets another key", async () => {
    const { srv, url } = await serve();
    let n = 0;
    srv.reply = (_req, res) => {
      if (++n > 2) return true;
      res.writeHead(500).end("try later");
      return false;
    };
    const sink = make(url);
    const batch = records(4);
    for (let i = 0; i < 2; i++) await expect(sink.write(batch, signal)).rejects.toBeInstanceOf(SinkError);
    expectAccepted(await sink.write(batch, signal));
    expectAccepted(await sink.write(records(4), signal));
    const keys = srv.requests.map((r) => r.headers["idempotency-key"]);
    expect(keys[0]).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(keys.slice(0, 3)).toEqual([keys[0], keys[0], keys[0]]);
    expect(keys[3]).not.toBe(keys[0]);
  });

  it.each([
    [503, "7", 7000],
    [429, "0", 0],
    [500, undefined, undefined],
  ])("HTTP %i with Retry-After %s → retryable, retryAfterMs %s", async (status, after, expected) => {
    const { srv, url } = await serve();
    srv.reply = (_req, res) => {
      res.writeHead(status, after === undefined ? {} : { "retry-after": after }).end("busy");
      return false;
    };
    const err = await make(url)
      .write(records(2), signal)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SinkError);
    expect(err).toMatchObject({ code: `HTTP_${status}`, retryable: true, retryAfterMs: expected });
  });

  it("parses Retry-After as an HTTP date", () => {
    const now = Date.UTC(2026, 10, 22, 1, 0, 0);
    expect(parseRetryAfter("Sun, 22 Nov 2026 01:00:30 GMT", now)).toBe(30_000);
    expect(parseRetryAfter("Sun, 22 Nov 2026 00:59:00 GMT", now)).toBe(0);
    expect(parseRetryAfter("soon", now)).toBeUndefined();
  });

  it.each([400, 413, 422])("HTTP %i → every record rejected with the reason, not retried", async (status) => {
    const { srv, url } = await serve();
    srv.reply = (_req, res) => {
      res.writeHead(status).end('{"error":"bad record"}\n');
      return false;
    };
    const res = await make(url).write(records(3), signal);
    expect(res.rejected).toEqual(
      [0, 1, 2].map((index) => ({ index, reason: `HTTP ${status}: {"error":"bad record"}` })),
    );
  });

  it("times out a receiver that never answers (retryable)", async () => {
    const { srv, url } = await serve();
    srv.reply = () => false; // holds the response open
    const err = await make(url, { timeoutMs: 100 })
      .write(records(1), signal)
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "HTTP_TIMEOUT", retryable: true });
  });

  it("connection refused is retryable; header values and URL secrets stay out of errors", async () => {
    const { srv, url } = await serve();
    await srv.stop();
    const cap = captureLog();
    const secretUrl = `${url.replace("http://", "http://user:pw@")}?token=t0k`;
    const sink = make(
      secretUrl,
      { headers: { authorization: "Bearer s3cret" } },
      { ...testContext(), log: cap.log },
    );
    const err = await sink.write(records(1), signal).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "HTTP_ECONNREFUSED", retryable: true });
    const text = `${(err as Error).message} ${JSON.stringify(cap.lines)}`;
    expect(text).not.toMatch(/s3cret|t0k|pw@/);
    expect((err as Error).message).toContain(`127.0.0.1:${srv.port}/ingest`);
  });

  it("an aborted write is retryable", async () => {
    const { srv, url } = await serve();
    srv.reply = () => false;
    const ac = new AbortController();
    const p = make(url).write(records(1), ac.signal);
    setTimeout(() => ac.abort(), 50);
    await expect(p).rejects.toMatchObject({ code: "ABORTED", retryable: true });
  });

  it("rejects a non-http URL at config time", () => {
    const r = httpSinkSchema.safeParse({ type: "http", id: "up", url: "ftp://x" });
    expect(r.success).toBe(false);
    expect(r.error!.issues[0]!.path).toEqual(["url"]);
  });
});
