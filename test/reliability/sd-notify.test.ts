import { type ChildProcess, spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { validateConfig } from "../../agent/config/load.js";
import { type AgentHandle, startAgent } from "../../agent/runtime.js";
import { SdNotify } from "../../agent/telemetry/sd-notify.js";
import { silentLogger } from "../../agent/telemetry/logger.js";
import { freePort, tempDir } from "../helpers/agent-process.js";
import { sleep } from "../helpers/reliability-load.js";

/**
 * systemd's notify protocol against a real unix datagram socket: a small python3 receiver stands
 * in for systemd (Node has no datagram unix sockets), reading each message and closing the file
 * descriptor systemd-notify passes for its barrier, as systemd does. READY=1 comes once the agent
 * runs; WATCHDOG=1 keeps coming while health is ok and stops once a component fails.
 */

const RECEIVER = `
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("listening", flush=True)
while True:
    msg, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(16 * 4))
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            for i in range(0, len(data) - len(data) % 4, 4):
                os.close(int.from_bytes(data[i:i + 4], sys.byteorder))
    for line in msg.decode(errors="replace").split("\\n"):
        if line:
            print(line, flush=True)
`;

class NotifyReceiver {
  readonly messages: string[] = [];
  private child: ChildProcess | undefined;

  async start(path: string): Promise<void> {
    const child = spawn("python3", ["-u", "-c", RECEIVER, path], { stdio: ["ignore", "pipe", "inherit"] });
    this.child = child;
    let buf = "";
    await new Promise<void>((resolve, reject) => {
      child.once("error", reject);
      child.stdout!.on("data", (d: Buffer) => {
        buf += d.toString();
        const lines = buf.split("\n");
        buf = lines.pop()!;
        for (const l of lines) {
          if (l === "listening") resolve();
          else this.messages.push(l);
        }
      });
    });
  }

  count(line: string): number {
    return this.messages.filter((m) => m === line).length;
  }

  stop(): void {
    this.child?.kill("SIGKILL");
  }
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await sleep(50);
  }
  return true;
}

async function run(sinks: unknown[], health: Record<string, unknown> = {}) {
  const dir = tempDir("edgespool-sdnotify-");
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const socketPath = join(dir, "notify.sock");
  const receiver = new NotifyReceiver();
  await receiver.start(socketPath);
  cleanups.push(() => receiver.stop());
  const env = { ...process.env, NOTIFY_SOCKET: socketPath, WATCHDOG_USEC: "300000" };
  const config = validateConfig(
    { dataDir: join(dir, "data"), sinks, health, http: { port: await freePort() }, shutdownTimeoutMs: 500 },
    "test",
    {},
  );
  const agent: AgentHandle = await startAgent(config, { sdNotify: new SdNotify(silentLogger(), { env }) });
  cleanups.push(() => agent.stop());
  return { receiver, agent };
}

describe("systemd notify", () => {
  it("is a no-op without NOTIFY_SOCKET", () => {
    const n = new SdNotify(silentLogger(), { env: {} });
    expect(n.enabled).toBe(false);
    expect(n.watchdogIntervalMs).toBeUndefined();
  });

  it("sends READY=1 once running, then WATCHDOG=1 every half period while healthy", async () => {
    const dir = tempDir("edgespool-sdnotify-out-");
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const { receiver } = await run([{ type: "file", id: "files", dir }]);
    expect(await waitFor(() => receiver.count("READY=1") === 1, 10_000), receiver.messages.join("|")).toBe(
      true,
    );
    expect(await waitFor(() => receiver.count("WATCHDOG=1") >= 3, 10_000), receiver.messages.join("|")).toBe(
      true,
    );
    expect(receiver.messages).toContain("STATUS=ok");
  }, 30_000);

  it("stops feeding the watchdog while a component fails, and says why in STATUS", async () => {
    const closed = await freePort();
    const { receiver, agent } = await run(
      [{ type: "http", id: "up", url: `http://127.0.0.1:${closed}/x`, retry: { initialMs: 50, maxMs: 100 } }],
      { sinkFailingMs: 0 },
    );
    // Something to ship, so the sink is tried (and refused: nothing listens on that port).
    const rx = new Date().toISOString();
    agent.spool.append([{ id: "r1", sensor: "s", ts: rx, rx, temperature: 20, source: "t", agent: "t" }]);
    expect(await waitFor(() => receiver.count("READY=1") === 1, 10_000)).toBe(true);
    const failing = await waitFor(
      () => receiver.messages.some((m) => m.startsWith("STATUS=failing: sink up")),
      10_000,
    );
    expect(failing, receiver.messages.join("|")).toBe(true);
    const fed = receiver.count("WATCHDOG=1");
    await sleep(1500); // five watchdog periods' halves
    expect(receiver.count("WATCHDOG=1"), receiver.messages.join("|")).toBe(fed);
  }, 30_000);
});
