import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { healthBody } from "./health.js";
import type { Routes } from "./status-page.js";
import type { Telemetry } from "./telemetry.js";

export interface HttpListener {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Prometheus `/metrics` and `/healthz`. */
export async function startHttp(
  host: string,
  port: number,
  telemetry: Telemetry,
  beforeScrape: () => unknown,
  /** Further routes (the status page); tried before the 404. */
  routes?: Routes,
): Promise<HttpListener> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    if (path === "/metrics") {
      try {
        beforeScrape();
      } catch (err) {
        telemetry.log.warn({ err }, "refreshing gauges failed");
      }
      telemetry.registry.metrics().then(
        (body) => res.writeHead(200, { "content-type": telemetry.registry.contentType }).end(body),
        (err: Error) => res.writeHead(500).end(err.message),
      );
      return;
    }
    if (path === "/healthz") {
      // 200 only while every component that reported says it works; 503 names the others and why.
      const snap = telemetry.health.snapshot();
      const body = healthBody(snap);
      res
        .writeHead(snap.status === "ok" ? 200 : 503, { "content-type": "application/json" })
        .end(`${JSON.stringify(body)}\n`);
      return;
    }
    if (routes?.(req, res, path ?? "/")) return;
    res.writeHead(404).end("not found: try /, /metrics or /healthz\n");
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolveListen, rejectListen) => {
    server.once("error", rejectListen);
    server.listen(port, host, () => {
      server.off("error", rejectListen);
      resolveListen();
    });
  });
  const addr = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(":") ? `[${host}]` : host}:${addr.port}`,
    port: addr.port,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}
