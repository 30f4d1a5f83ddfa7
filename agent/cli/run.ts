import type { Config } from "../config/schema.js";
import { startAgent } from "../runtime.js";
import { createLogger } from "../telemetry/logger.js";
import { announceNodeSupport } from "./node-support.js";

/** The daemon: runs until SIGTERM/SIGINT, then shuts down cleanly; a second signal exits at once. */
export async function runCommand(cfg: Readonly<Config>): Promise<void> {
  const log = createLogger({ level: cfg.log.level });
  announceNodeSupport(log);
  let agent: Awaited<ReturnType<typeof startAgent>>;
  try {
    agent = await startAgent(cfg, { log });
  } catch (err) {
    log.fatal({ err }, "could not start");
    process.exitCode = 1;
    return;
  }
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      log.warn({ signal: sig }, "second signal: exiting now");
      process.exit(130);
    }
    log.info({ signal: sig }, "shutting down");
    agent.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  process.on("uncaughtException", (err) => {
    log.fatal({ err }, "uncaught exception");
    process.exit(1);
  });
}
