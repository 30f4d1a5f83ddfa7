import { ConfigError, loadConfig } from "../config/load.js";

/** `edgespool check`: every problem with its path, exit 1; a one-line summary and exit 0 when valid. */
export function checkCommand(file: string): void {
  try {
    const cfg = loadConfig(file);
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
