import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

/** The compiled CLI (`npm test` runs tsc before vitest). */
export const CLI = resolve("dist/agent/cli/main.js");

export function tempDir(prefix = "edgespool-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => res(port));
    });
  });
}

export async function waitForPort(port: number, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((res) => {
      const s = createConnection({ host: "127.0.0.1", port }, () => {
        s.destroy();
        res(true);
      });
      s.once("error", () => res(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`port ${port} did not open within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface AgentProcess {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<number | null>;
}

/**
 * Starts `edgespool run --config <file>` as a child process, writing `config` to `dir/config.json`;
 * `nodeArgs` go to node before the CLI (e.g. `--import` a preload).
 */
export function spawnAgent(
  dir: string,
  config: unknown,
  env: NodeJS.ProcessEnv = {},
  nodeArgs: readonly string[] = [],
): AgentProcess {
  const file = join(dir, "config.json");
  writeFileSync(file, JSON.stringify(config, null, 2));
  const child = spawn(process.execPath, [...nodeArgs, CLI, "run", "--config", file], {
    env: { ...process.env, EDGESPOOL_LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let err = "";
  child.stderr?.on("data", (d: Buffer) => {
    err = (err + d.toString()).slice(-20_000);
  });
  child.stdout?.resume();
  const exited = new Promise<number | null>((res) => child.once("exit", (code) => res(code)));
  return { child, stderr: () => err, exited };
}

export async function killHard(p: AgentProcess): Promise<void> {
  if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGKILL");
  await p.exited;
}

/** Spawns the agent and waits for its port; on failure the error carries the agent's stderr. */
export async function startAgentProcess(dir: string, config: unknown, port: number): Promise<AgentProcess> {
  const p = spawnAgent(dir, config);
  const died = p.exited.then((code) => {
    throw new Error(`agent exited with ${code} before opening port ${port}:\n${p.stderr()}`);
  });
  try {
    await Promise.race([waitForPort(port), died]);
  } catch (err) {
    await killHard(p);
    throw new Error(`${(err as Error).message}\n--- agent stderr ---\n${p.stderr()}`);
  }
  died.catch(() => {});
  return p;
}
