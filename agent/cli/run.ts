import { ConfigError, loadConfig } from "../config/load.js";
import type { Config } from "../config/schema.js";
import { type AgentHandle, startAgent } from "../runtime.js";
import { createLogger, type Logger } from "../telemetry/logger.js";
import { announceNodeSupport } from "./node-support.js";

/**
 * The daemon: runs until SIGTERM/SIGINT, then shuts down cleanly; a second signal exits at once.
 * SIGHUP (what `systemctl reload` sends) re-reads `file` and applies it live.
 */
export async function runCommand(cfg: Readonly<Config>, file: string): Promise<void> {
  const log = createLogger({ level: cfg.log.level });
  announceNodeSupport((notice) => log.warn({ node: process.version }, notice));
  let agent: AgentHandle | undefined;
  let hupWhileStarting = false;
  let stopWhileStarting = false;
  let signals = 0;
  // All handlers are installed before starting: the default action of SIGHUP, SIGTERM and SIGINT
  // would kill the process, and `systemctl stop` or `reload` may come while the agent starts.
  process.on("SIGHUP", () => {
    if (agent === undefined) hupWhileStarting = true;
    else reloadFromFile(agent, file, log);
  });
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      log.warn({ signal: sig }, "second signal: exiting now");
      process.exit(130);
    }
    log.info({ signal: sig }, "shutting down");
    if (agent === undefined) stopWhileStarting = true;
    else stopAndExit(agent, log);
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  process.on("uncaughtException", (err) => {
    log.fatal({ err }, "uncaught exception");
    process.exit(1);
  });
  try {
    agent = await startAgent(cfg, { log });
  } catch (err) {
    log.fatal({ err }, "could not start");
    process.exitCode = 1;
    if (stopWhileStarting) process.exit(1);
    return;
  }
  if (stopWhileStarting) stopAndExit(agent, log);
  else if (hupWhileStarting) reloadFromFile(agent, file, log);
}

function stopAndExit(agent: AgentHandle, log: Logger): void {
  agent.stop().then(
    () => process.exit(0),
    (err: unknown) => {
      log.error({ err }, "shutdown failed");
      process.exit(1);
    },
  );
}
/** An invalid file is refused with every problem and its path; the running config carries on. */
function reloadFromFile(agent: AgentHandle, file: string, log: Logger): void {
  log.info({ file }, "SIGHUP: reloading config");
  let next: Readonly<Config>;
  try {
    next = loadConfig(file);
  } catch (err) {
    const problems = err instanceof ConfigError ? err.problems : [(err as Error).message];
    log.error(
      { file, problems },
      `config reload refused: ${problems.length} problem${problems.length === 1 ? "" : "s"}; the previous config keeps running`,
    );
    for (const p of problems) log.error({ file }, `config: ${p}`);
    return;
  }
  agent.reload(next).catch((err: unknown) => log.error({ err }, "config reload failed"));
}
