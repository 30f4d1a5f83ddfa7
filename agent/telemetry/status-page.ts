import { timingSafeEqual } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createRequire } from "node:module";
import { isIP } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Config } from "../config/schema.js";
import type { SpoolStats } from "../spool/types.js";
import type { HealthSnapshot } from "./health.js";
import { BUCKET_MS, type SensorTracker, type SensorView } from "./sensors.js";
import type { Telemetry } from "./telemetry.js";

/** The JSON behind the status page, `GET /api/status[?since=<epoch ms>]`; documented in README.md. */
export interface StatusDocument {
  agentId: string;
  now: number;
  health: HealthSnapshot;
  ingest: {
    /** Readings accepted since start, before de-duplication. */
    readings: number;
    spooled: number;
    duplicates: number;
    /** Readings per second over the last minute. */
    perSecond: number;
    /** Readings per second per 10 s bucket, last hour (after `since`). */
    rate: [number, number][];
    rejects: { source: string; reason: string; count: number }[];
  };
  spool: { records: number; bytes: number; maxBytes: number; fileBytes: number; lastSeq: number };
  sinks: {
    id: string;
    type: string;
    /** From the health registry: "ok", "failing", or "pending" before the sink has reported. */
    state: "ok" | "failing" | "pending";
    reason: string | null;
    depth: number;
    oldestUnshippedMs: number;
    shipped: number;
    dropped: Record<string, number>;
    deadLetters: number;
    errors: Record<string, number>;
  }[];
  sensors: SensorView[];
  maxSensors: number;
  sensorsEvicted: number;
}

export interface StatusDeps {
  /** The config running now (auth may change with a reload). */
  config: () => Readonly<Config>;
  telemetry: Telemetry;
  sensors: SensorTracker;
  stats: () => SpoolStats;
}

/** Handles a request the http listener has no route for; false when it does not either. */
export type Routes = (req: IncomingMessage, res: ServerResponse, path: string) => boolean;

const here = dirname(fileURLToPath(import.meta.url));
/**
 * The page is plain files in agent/telemetry/page/, served from the source folder both when run
 * from source and from dist/agent/telemetry/ (the package ships agent/telemetry/page/).
 */
function pageDir(): string {
  const candidates = [join(here, "page"), join(here, "..", "..", "..", "agent", "telemetry", "page")];
  const found = candidates.find((d) => existsSync(join(d, "index.html")));
  if (found === undefined) throw new Error(`status page files not found in ${candidates.join(" or ")}`);
  return found;
}

interface Asset {
  type: string;
  body: Buffer;
}

function loadAssets(): Map<string, Asset> {
  const dir = pageDir();
  const require = createRequire(import.meta.url);
  const uplot = dirname(require.resolve("uplot/dist/uPlot.iife.min.js"));
  const js = "text/javascript; charset=utf-8";
  const css = "text/css; charset=utf-8";
  return new Map<string, Asset>([
    ["/", { type: "text/html; charset=utf-8", body: readFileSync(join(dir, "index.html")) }],
    ["/assets/app.js", { type: js, body: readFileSync(join(dir, "app.js")) }],
    ["/assets/style.css", { type: css, body: readFileSync(join(dir, "style.css")) }],
    ["/assets/uplot.min.js", { type: js, body: readFileSync(join(uplot, "uPlot.iife.min.js")) }],
    ["/assets/uplot.min.css", { type: css, body: readFileSync(join(uplot, "uPlot.min.css")) }],
  ]);
}

export function isLoopback(host: string): boolean {
  if (host === "localhost") return true;
  if (isIP(host) === 4) return host.startsWith("127.");
  return host === "::1";
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

type Verdict = "ok" | "unauthorized" | "not-configured";

/** Page and API: open on loopback without auth; otherwise the configured token or basic auth. */
export function checkAuth(cfg: Config["http"], req: IncomingMessage, url: URL): Verdict {
  const auth = cfg.auth;
  if (auth === undefined) return isLoopback(cfg.host) ? "ok" : "not-configured";
  const header = req.headers.authorization ?? "";
  if ("token" in auth) {
    const given = header.startsWith("Bearer ") ? header.slice(7) : (url.searchParams.get("token") ?? "");
    return same(given, auth.token) ? "ok" : "unauthorized";
  }
  if (!header.startsWith("Basic ")) return "unauthorized";
  const decoded = Buffer.from(header.slice(6), "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return "unauthorized";
  const userOk = same(decoded.slice(0, colon), auth.username);
  const passOk = same(decoded.slice(colon + 1), auth.password);
  return userOk && passOk ? "ok" : "unauthorized";
}

function sumBy<T extends string>(
  values: { labels: Partial<Record<string, string | number>>; value: number }[],
  key: T,
  filter: (l: Partial<Record<string, string | number>>) => boolean,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values)
    if (filter(v.labels)) out[String(v.labels[key])] = (out[String(v.labels[key])] ?? 0) + v.value;
  return out;
}

export async function buildStatus(deps: StatusDeps, sinceMs: number): Promise<StatusDocument> {
  const { telemetry, sensors } = deps;
  const cfg = deps.config();
  const st = deps.stats();
  const now = Date.now();
  const [readingsIn, spooled, duplicates, rejected, sinkErrors] = await Promise.all([
    telemetry.readingsIn.get(),
    telemetry.spooled.get(),
    telemetry.duplicates.get(),
    telemetry.rejected.get(),
    telemetry.sinkErrors.get(),
  ]);
  const total = (m: { values: { value: number }[] }) => m.values.reduce((n, v) => n + v.value, 0);
  const health = telemetry.health.snapshot();
  const lastMinute = sensors.ingestRate(now - 6 * BUCKET_MS).slice(0, -1);
  return {
    agentId: cfg.agentId,
    now,
    health,
    ingest: {
      readings: total(readingsIn),
      spooled: total(spooled),
      duplicates: total(duplicates),
      perSecond: lastMinute.reduce((n, [, r]) => n + r, 0) / Math.max(1, lastMinute.length),
      rate: sensors.ingestRate(sinceMs),
      rejects: rejected.values.map((v) => ({
        source: String(v.labels.source),
        reason: String(v.labels.reason),
        count: v.value,
      })),
    },
    spool: {
      records: st.records,
      bytes: st.bytes,
      maxBytes: cfg.spool.maxBytes,
      fileBytes: st.fileBytes,
      lastSeq: st.lastSeq,
    },
    sinks: cfg.sinks.map((s) => {
      const stats = st.sinks.find((x) => x.sink === s.id);
      const h = health.components.find((c) => c.kind === "sink" && c.name === s.id);
      return {
        id: s.id,
        type: s.type,
        state: h === undefined ? "pending" : h.ok ? "ok" : "failing",
        reason: h?.reason ?? null,
        depth: stats?.depth ?? 0,
        oldestUnshippedMs: stats?.oldestAgeMs ?? 0,
        shipped: stats?.shipped ?? 0,
        dropped: stats?.dropped ?? {},
        deadLetters: stats?.deadLetters ?? 0,
        errors: sumBy(sinkErrors.values, "code", (l) => l.sink === s.id),
      };
    }),
    sensors: sensors.view(sinceMs),
    maxSensors: sensors.maxSensors,
    sensorsEvicted: sensors.evicted,
  };
}

/** `GET /`, `/assets/*` and `/api/status` for the http listener. */
export function statusRoutes(deps: StatusDeps): Routes {
  let assets = new Map<string, Asset>();
  try {
    assets = loadAssets();
  } catch (err) {
    // An install without the page's files still serves /api/status, /metrics and /healthz.
    deps.telemetry.log.warn({ err }, "status page files missing: GET / answers 404");
  }
  const http = deps.config().http;
  if (http.auth === undefined && !isLoopback(http.host))
    deps.telemetry.log.warn(
      { host: http.host },
      "status page and /api/status refused (403): set http.auth to serve them on a non-loopback address",
    );
  return (req, res, path) => {
    const asset = assets.get(path === "/index.html" ? "/" : path);
    if (asset === undefined && path !== "/api/status") return false;
    // Assets are the page's code and a chart library; the page and the API carry the data.
    if (path === "/" || path === "/index.html" || path === "/api/status") {
      const cfg = deps.config().http;
      const url = new URL(req.url ?? "/", "http://agent");
      const verdict = checkAuth(cfg, req, url);
      if (verdict === "not-configured") {
        res
          .writeHead(403, { "content-type": "text/plain; charset=utf-8" })
          .end(
            "the status page needs http.auth (a token or username/password) when http.host is not loopback\n",
          );
        return true;
      }
      if (verdict === "unauthorized") {
        const scheme =
          cfg.auth && "token" in cfg.auth ? "Bearer" : 'Basic realm="edgespool", charset="UTF-8"';
        res
          .writeHead(401, { "www-authenticate": scheme, "content-type": "text/plain" })
          .end("unauthorized\n");
        return true;
      }
      if (path === "/api/status") {
        const since = Number(url.searchParams.get("since") ?? 0);
        buildStatus(deps, Number.isFinite(since) ? since : 0).then(
          (doc) =>
            res
              .writeHead(200, { "content-type": "application/json", "cache-control": "no-store" })
              .end(JSON.stringify(doc)),
          (err: Error) => {
            deps.telemetry.log.warn({ err }, "building /api/status failed");
            res.writeHead(500, { "content-type": "text/plain" }).end(`${err.message}\n`);
          },
        );
        return true;
      }
    }
    res.writeHead(200, { "content-type": asset!.type, "cache-control": "no-cache" }).end(asset!.body);
    return true;
  };
}
