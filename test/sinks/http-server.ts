import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { gunzipSync } from "node:zlib";

export interface Received {
  headers: IncomingHttpHeaders;
  lines: string[];
}

/**
 * A real node:http receiver on 127.0.0.1. `reply` decides each response (default 200), so tests
 * can script 503 + Retry-After, 400, or no answer at all; accepted bodies are split into lines.
 */
export class NdjsonServer {
  readonly requests: Received[] = [];
  readonly accepted: string[] = [];
  connections = 0;
  reply: (req: Received, res: ServerResponse) => boolean | undefined = () => true;
  private server: Server | undefined;
  port = 0;

  async start(port = 0): Promise<string> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        let raw = Buffer.concat(chunks);
        if (req.headers["content-encoding"] === "gzip") raw = gunzipSync(raw);
        const text = raw.toString("utf8");
        const lines = text.split("\n");
        lines.pop();
        const r = { headers: req.headers, lines };
        this.requests.push(r);
        const ok = this.reply(r, res);
        if (ok === true) {
          this.accepted.push(...lines);
          res.writeHead(200).end("ok");
        }
      });
    });
    server.on("connection", () => this.connections++);
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    return `http://127.0.0.1:${this.port}/ingest`;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
