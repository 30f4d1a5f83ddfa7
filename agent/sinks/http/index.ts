import http from "node:http";
import https from "node:https";
import { promisify } from "node:util";
import { gzip as gzipCb } from "node:zlib";
import { loadTls } from "../../config/tls.js";
import { errText, safeUrl, scrub } from "../../telemetry/redact.js";
import type { OutRecord } from "../../record/record.js";
import { type Sink, type SinkContext, SinkError, type WriteResult } from "../sink.js";
import type { HttpSinkConfig } from "./config.js";
import { idempotencyKey, interpret } from "./response.js";

const gzip = promisify(gzipCb);
const EXCERPT_BYTES = 512;

/**
 * POSTs NDJSON batches over a keep-alive connection, with an Idempotency-Key so the
 * receiver can recognise a retried batch. See response.ts for how statuses map to results.
 */
export function createHttpSink(cfg: HttpSinkConfig, _ctx: SinkContext): Sink {
  const url = new URL(cfg.url);
  const where = safeUrl(url);
  const isHttps = url.protocol === "https:";
  const tls = cfg.tls;
  const agent = isHttps
    ? new https.Agent({
        keepAlive: true,
        ...loadTls(tls),
      })
    : new http.Agent({ keepAlive: true });
  let closed = false;

  async function post(batch: readonly OutRecord[], signal: AbortSignal): Promise<WriteResult> {
    const text = Buffer.from(batch.map((r) => `${r.body}\n`).join(""), "utf8");
    const body = cfg.gzip ? await gzip(text) : text;
    const headers: Record<string, string> = {
      ...cfg.headers,
      "content-type": "application/x-ndjson",
      "content-length": String(body.length),
      "idempotency-key": idempotencyKey(cfg.id, batch),
    };
    if (cfg.gzip) headers["content-encoding"] = "gzip";
    const lib = isHttps ? https : http;
    return new Promise<WriteResult>((resolve, reject) => {
      const fail = (code: string, why: string, cause?: unknown) =>
        reject(new SinkError(`http sink: POST ${where}: ${why}`, code, true, undefined, { cause }));
      const req = lib.request(
        url,
        { method: "POST", agent, headers, signal, timeout: cfg.timeoutMs },
        (res) => {
          const chunks: Buffer[] = [];
          let kept = 0;
          res.on("data", (c: Buffer) => {
            if (kept < EXCERPT_BYTES) chunks.push(c);
            kept += c.length;
          });
          res.on("error", (err) => fail("HTTP_RESPONSE", errText(err), err));
          res.on("end", () => {
            // scrub: a misbehaving receiver may echo our request headers back.
            const excerpt = scrub(
              Buffer.concat(chunks).subarray(0, EXCERPT_BYTES).toString("utf8").replace(/\s+/g, " ").trim(),
            );
            const retryAfter = res.headers["retry-after"];
            try {
              resolve(interpret(res.statusCode ?? 0, excerpt, retryAfter, batch.length, Date.now()));
            } catch (err) {
              reject(err);
            }
          });
        },
      );
      req.on("timeout", () => req.destroy(Object.assign(new Error("timed out"), { code: "TIMEOUT" })));
      req.on("error", (err: NodeJS.ErrnoException) => {
        if (signal.aborted) fail("ABORTED", "aborted", err);
        else fail(`HTTP_${err.code ?? "ERROR"}`, `${err.code ?? ""} ${errText(err)}`.trim(), err);
      });
      req.end(body);
    });
  }

  return {
    id: cfg.id,
    type: "http",
    async start() {},
    async write(batch, signal) {
      if (closed) throw new SinkError("http sink: closed", "CLOSED", true);
      if (batch.length === 0) return {};
      return post(batch, signal);
    },
    async close() {
      closed = true;
      agent.destroy();
    },
  };
}
