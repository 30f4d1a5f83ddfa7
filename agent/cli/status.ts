import { resolve } from "node:path";
import type { Config } from "../config/schema.js";
import { readSpoolStats } from "../spool/index.js";
import type { SpoolStats } from "../spool/types.js";
import type { HealthBody } from "../telemetry/health.js";

/** The running agent's `/healthz` answer, or why it could not be had (agent down, http disabled). */
export type StatusHealth = HealthBody | { status: "unknown"; error: string };

/** Asks the running agent for its component health; the spool file alone cannot tell it. */
export async function fetchHealth(cfg: Readonly<Config>, timeoutMs = 2000): Promise<StatusHealth> {
  if (!cfg.http.enabled) return { status: "unknown", error: "http is disabled in the config" };
  const host = cfg.http.host.includes(":") ? `[${cfg.http.host}]` : cfg.http.host;
  const url = `http://${host === "0.0.0.0" ? "127.0.0.1" : host}:${cfg.http.port}/healthz`;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    return (await res.json()) as HealthBody;
  } catch (err) {
    return { status: "unknown", error: `agent not answering on ${url}: ${(err as Error).message}` };
  }
}

function renderHealth(h: StatusHealth): string[] {
  if (h.status === "unknown") return [`health: unknown (${h.error})`];
  if (h.status === "ok") return [`health: ok (${h.components.length} components)`];
  return [
    "health: FAILING",
    ...h.failing.map((f) => `  ${f.kind} ${f.name}: ${f.reason} (since ${f.since})`),
  ];
}

function fmtAge(ms: number): string {
  if (ms <= 0) return "-";
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  if (s < 3600) return `${(s / 60).toFixed(1)}m`;
  if (s < 86400) return `${(s / 3600).toFixed(1)}h`;
  return `${(s / 86400).toFixed(1)}d`;
}

function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows
    .map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  "))
    .join("\n");
}

/** Renders spool stats; with a previous sample, adds shipping and ingest rates. */
export function renderStatus(
  cfg: Readonly<Config>,
  st: SpoolStats,
  prev?: { stats: SpoolStats; ms: number },
  health?: StatusHealth,
): string {
  const deadMax = cfg.spool.deadLetterMaxBytes ?? Math.floor(cfg.spool.maxBytes / 10);
  const lines = [
    `agent ${cfg.agentId}  spool ${resolve(cfg.dataDir)}`,
    ...(health ? renderHealth(health) : []),
    `spool: ${st.records} records, ${fmtBytes(st.bytes)} of ${fmtBytes(cfg.spool.maxBytes)} (file ${fmtBytes(st.fileBytes)}), last seq ${st.lastSeq}`,
    `dead letters: ${fmtBytes(st.deadLetterBytes)} of ${fmtBytes(deadMax)}, ${st.deadLettersEvicted} evicted oldest-first`,
  ];
  if (st.refused > 0) lines.push(`refused (spool or disk full, never stored): ${st.refused} readings`);
  if (prev)
    lines.push(`ingest: ${((st.lastSeq - prev.stats.lastSeq) / (prev.ms / 1000)).toFixed(1)} records/s`);
  const rows = [["sink", "depth", "oldest", "shipped", "rate/s", "dropped", "dead"]];
  for (const s of st.sinks) {
    const before = prev?.stats.sinks.find((p) => p.sink === s.sink);
    const rate = before && prev ? ((s.shipped - before.shipped) / (prev.ms / 1000)).toFixed(1) : "-";
    const dropped = Object.entries(s.dropped)
      .filter(([, n]) => n > 0)
      .map(([k, n]) => `${k}=${n}`)
      .join(",");
    rows.push([
      s.sink,
      String(s.depth),
      fmtAge(s.oldestAgeMs),
      String(s.shipped),
      rate,
      dropped || "0",
      String(s.deadLetters),
    ]);
  }
  lines.push(table(rows));
  return lines.join("\n");
}

export async function statusCommand(
  cfg: Readonly<Config>,
  opts: { json?: boolean; interval?: number },
): Promise<void> {
  const dir = resolve(cfg.dataDir);
  const read = () => {
    try {
      return readSpoolStats(dir, Date.now, cfg.spool.key);
    } catch (err) {
      // A corrupt spool is the agent's to move aside at its next start; say so rather than crash.
      process.stderr.write(`cannot read the spool in ${dir}: ${(err as Error).message}\n`);
      process.exit(1);
    }
  };
  const first = read();
  const health = await fetchHealth(cfg);
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ ...first, health })}\n`);
    return;
  }
  const ms = opts.interval ?? 1000;
  if (ms <= 0) {
    process.stdout.write(`${renderStatus(cfg, first, undefined, health)}\n`);
    return;
  }
  await new Promise((r) => setTimeout(r, ms));
  process.stdout.write(`${renderStatus(cfg, read(), { stats: first, ms }, health)}\n`);
}
