import { readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import {
  type AgentProcess,
  freePort,
  killHard,
  spawnAgent,
  tempDir,
  waitForPort,
} from "../../test/helpers/agent-process.js";
import { rssMiB } from "../../test/helpers/reliability-proc.js";

/**
 * The agent as deployed, for the footprint suite: `edgespool run` in a child process with its
 * embedded broker and an http sink posting into a node:http server in the bench process, so every
 * byte the agent writes to disk is the spool's. Its counters come from /proc.
 */

/** What /proc says about a process at one moment: bytes it caused to be written, CPU, RSS. */
export interface ProcSample {
  at: number;
  writeBytes: number;
  cpuMs: number;
  rssMiB: number;
}

const TICK_MS = 1000 / 100; // USER_HZ is 100 on Linux

export function procSample(pid: number): ProcSample {
  const io = readFileSync(`/proc/${pid}/io`, "utf8");
  const writeBytes = Number(/^write_bytes:\s+(\d+)/m.exec(io)?.[1] ?? Number.NaN);
  // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const cpuMs = (Number(f[11]) + Number(f[12])) * TICK_MS;
  return { at: performance.now(), writeBytes, cpuMs, rssMiB: rssMiB(pid) ?? Number.NaN };
}

/** Counts what the http sink delivers: records and their NDJSON bytes (newline included). */
export class Receiver {
  records = 0;
  bytes = 0;
  private server: Server | undefined;
  url = "";

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      let lines = 0;
      let bytes = 0;
      req.on("data", (c: Buffer) => {
        bytes += c.length;
        for (const b of c) if (b === 10) lines++;
      });
      req.on("end", () => {
        this.records += lines;
        this.bytes += bytes;
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, "127.0.0.1", () => r()));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/ingest`;
  }

  /** NDJSON bytes of one delivered reading, on average. */
  get recordBytes(): number {
    return this.records === 0 ? Number.NaN : this.bytes / this.records;
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
}

export interface FootprintAgent {
  proc: AgentProcess;
  pid: number;
  port: number;
  receiver: Receiver;
  /** Spawn → the broker's port accepting connections, ms. */
  listenMs: number;
  stop(): Promise<void>;
}

/** Starts the CLI agent with `spool` as its spool config; `sink` "file" writes into its temp folder. */
export async function startFootprintAgent(
  spool: Record<string, unknown> = {},
  sink: "http" | "file" = "http",
): Promise<FootprintAgent> {
  const receiver = new Receiver();
  await receiver.start();
  const dir = tempDir("edgespool-bench-footprint-");
  const port = await freePort();
  const t0 = performance.now();
  const proc = spawnAgent(dir, {
    agentId: "bench",
    dataDir: join(dir, "data"),
    sources: [{ type: "mqtt-broker", id: "devices", port, topics: ["sensors/#"] }],
    sinks: [
      sink === "http"
        ? { type: "http", id: "out", url: receiver.url }
        : { type: "file", id: "out", dir: join(dir, "out") },
    ],
    spool,
    http: { enabled: false },
    log: { level: "warn" },
  });
  try {
    await waitForPortFast(port, 30_000);
  } catch (err) {
    await killHard(proc);
    await receiver.close();
    throw new Error(`${(err as Error).message}\n${proc.stderr()}`);
  }
  const listenMs = performance.now() - t0;
  return {
    proc,
    pid: proc.child.pid!,
    port,
    receiver,
    listenMs,
    async stop() {
      proc.child.kill("SIGTERM");
      const timer = setTimeout(() => proc.child.kill("SIGKILL"), 15_000);
      await proc.exited;
      clearTimeout(timer);
      await receiver.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** waitForPort with a 5 ms poll, so the time to listening is not rounded up to 50 ms. */
async function waitForPortFast(port: number, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      await waitForPort(port, 0);
      return;
    } catch (err) {
      if (Date.now() > until) throw err;
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}

/** Waits until the receiver has `n` records (or `timeoutMs` passed). */
export async function delivered(r: Receiver, n: number, timeoutMs: number): Promise<void> {
  const until = performance.now() + timeoutMs;
  while (r.records < n && performance.now() < until) await new Promise((res) => setTimeout(res, 20));
}
