import { resolve } from "node:path";
import { ConfigError, loadConfig } from "../config/load.js";
import { spoolKeyProblem } from "../spool/cipher.js";
import { dbPath } from "../spool/db.js";

/** `edgespool check`: every problem with its path, exit 1; a one-line summary and exit 0 when valid. */
export function checkCommand(file: string): void {
  try {
    const cfg = loadConfig(file);
    // Catch a wrong or missing spool key here too: systemd runs `check` before every start.
    const dataDir = resolve(cfg.dataDir);
    const keyProblem = spoolKeyProblem(dbPath(dataDir), dataDir, cfg.spool.key);
    if (keyProblem !== undefined) {
      process.stderr.write(`${file}: ${keyProblem}\n`);
      process.exit(1);
    }
    process.stdout.write(
      `${file}: ok (agent ${cfg.agentId}; ${cfg.sources.length} source(s): ${cfg.sources.map((s) => `${s.id}/${s.type}`).join(", ") || "none"}; ${cfg.sinks.length} sink(s): ${cfg.sinks.map((s) => `${s.id}/${s.type}`).join(", ")})\n`,
    );
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}
