import { Command, InvalidArgumentError } from "commander";
import { ConfigError, loadConfig } from "../config/load.js";
import type { Config } from "../config/schema.js";
import { resolveConfigPath } from "./config-file.js";

function load(file: string | undefined): Readonly<Config> {
  return loadConfig(resolveConfigPath(file));
}

function intArg(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError("expected a non-negative integer");
  return n;
}

const program = new Command()
  .name("edgespool")
  .description("Edge agent for IoT sensors: collect readings, spool them safely on disk, ship them upstream.")
  .version("0.1.0")
  .showHelpAfterError();

program
  .command("run")
  .description("run the daemon (without --config: config/default.json)")
  .option("-c, --config <file>", "config file (JSON or YAML)")
  .action(async (opts: { config?: string }) => {
    const { runCommand } = await import("./run.js");
    await runCommand(load(opts.config), resolveConfigPath(opts.config));
  });

program
  .command("check")
  .description("validate a config: every error with its path; exit 1 when invalid")
  .requiredOption("-c, --config <file>", "config file (JSON or YAML)")
  .action(async (opts: { config: string }) => {
    const { checkCommand } = await import("./check.js");
    checkCommand(opts.config);
  });

program
  .command("status")
  .description("spool depth, oldest unshipped age, rates, per sink (works while the agent runs)")
  .option("-c, --config <file>", "config file (JSON or YAML)")
  .option("--json", "print the raw numbers as JSON")
  .option("-i, --interval <ms>", "sample twice this far apart to show rates (0: once)", intArg, 1000)
  .action(async (opts: { config?: string; json?: boolean; interval: number }) => {
    const { statusCommand } = await import("./status.js");
    await statusCommand(load(opts.config), opts);
  });

// The simulator and the consumer pull in heavy modules (the AWS SDK); load them only when asked for.
const first = process.argv[2];
if (first === undefined || !["run", "check", "status"].includes(first)) {
  for (const extra of await import("./extra-commands.js").then((m) => m.extraCommands()))
    program.addCommand(extra);
}

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  }
  throw err;
}
