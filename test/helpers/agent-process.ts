import { type ChildProcess, execFile, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { join, resolve } from "node:path";

/** The compiled CLI (`npm test` runs tsc before vitest). */
export const CLI = resolve("dist/agent/cli/main.js");

export { freePort, tempDir } from "./basics.js";

/** Runs the CLI to completion (`check`, `status`, …) with extra environment; never throws on exit 1. */
export function runCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } }, (err, stdout, stderr) =>
      res({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** Whether something accepts connections on 127.0.0.1:`port` right now. */
export function portOpen(port: number): Promise<boolean> {
  return new Promise<boolean>((res) => {
    const s = createConnection({ host: "127.0.0.1", port }, () => {
      s.destroy();
      res(true);
    });
    s.once("error", () => res(false));
  });
}

export async function waitForPort(port: number, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await portOpen(port)) return;
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
export async function startAgentProcess(
  dir: string,
  config: unknown,
  port: number,
  env: NodeJS.ProcessEnv = {},
): Promise<AgentProcess> {
  const p = spawnAgent(dir, config, env);
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
