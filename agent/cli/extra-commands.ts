import type { Command } from "commander";
import { announceNodeSupport } from "./node-support.js";

/**
 * Commands that live beside the agent: the fleet simulator (which never imports the agent) and
 * the Kinesis consumer. Loaded lazily so `edgespool run` does not pay for them.
 */
export async function extraCommands(): Promise<Command[]> {
  // `consume` creates AWS SDK clients too: say once, in one line, what `run` says about the
  // running Node.js, instead of the SDK's multi-line warning.
  if (process.argv[2] === "consume")
    announceNodeSupport((notice) => process.stderr.write(`edgespool: ${notice}\n`));
  const [{ simCommand }, { consumeCommand }] = await Promise.all([
    import("../../simulator/cli.js"),
    import("../consume/command.js"),
  ]);
  return [simCommand(), consumeCommand()];
}
