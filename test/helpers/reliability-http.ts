import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { gunzipSync } from "node:zlib";
import { closeCutting, listenLoopback } from "./reliability-proxy.js";

/**
 * A real node:http upstream for the http sink, with the faults the torture tests need: it can be
 * stopped and restarted on the same port (an outage), or throttled to a few accepted batches a
 * second (a slow consumer answers 503 with Retry-After to the rest).
 */

export interface ReceiverOptions {
  /** Accept at most this many batches per second; others get 503 (0 = unlimited). */
  batchesPerSec?: number;
}

export class NdjsonReceiver {
  readonly lines: string[] = [];
  batches = 0;
  refused = 0;
  idempotencyKeys = new Set<string>();
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private boundPort = 0;
  private windowStart = 0;
  private inWindow = 0;
  private forced: number | undefined;

  constructor(private opts: ReceiverOptions = {}) {}

  get port(): number {
    return this.boundPort;
  }

  get url(): string {
    return `http://127.0.0.1:${this.boundPort}/ingest`;
  }

  throttle(batchesPerSec: number): void {
    this.opts = { ...this.opts, batchesPerSec };
  }

  /** Answers every batch with this status (503: down, 400: refuses everything) until called without one. */
  answer(status?: number): void {
    this.forced = status;
  }

  /** Listens on `port` (0 the first time: a free one; the same one again after stop()). */
  async start(port = this.boundPort): Promise<number> {
    const server = createServer((req, res) => this.handle(req, res));
    server.on("connection", (s: Socket) => {
      this.sockets.add(s);
      s.once("close", () => this.sockets.delete(s));
    });
    this.boundPort = await listenLoopback(server, port);
    this.server = server;
    return this.boundPort;
  }

  /** An outage: the port closes and open connections are cut mid-request. */
  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    await closeCutting(s, this.sockets);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("error", () => undefined);
    req.on("end", () => {
      if (this.forced !== undefined) {
        this.refused++;
        res.writeHead(this.forced, { "content-type": "text/plain" }).end("refused by the test\n");
        return;
      }
      const limit = this.opts.batchesPerSec ?? 0;
      if (limit > 0) {
        const now = Date.now();
        if (now - this.windowStart >= 1000) {
          this.windowStart = now;
          this.inWindow = 0;
        }
        if (this.inWindow >= limit) {
          this.refused++;
          res.writeHead(503, { "retry-after": "1" }).end();
          return;
        }
        this.inWindow++;
      }
      let body = Buffer.concat(chunks);
      if (req.headers["content-encoding"] === "gzip") body = gunzipSync(body);
      const key = req.headers["idempotency-key"];
      if (typeof key === "string") this.idempotencyKeys.add(key);
      for (const l of body.toString("utf8").split("\n")) if (l.trim() !== "") this.lines.push(l);
      this.batches++;
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  }
}
