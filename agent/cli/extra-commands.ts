import type { Command } from "commander";

/**
 * Commands that live beside the agent: the fleet simulator (which never imports the agent) and
 * the Kinesis consumer. Loaded lazily so `edgespool run` does not pay for them.
 */
export async function extraCommands(): Promise<Command[]> {
  const [{ simCommand }, { consumeCommand }] = await Promise.all([
    import("../../simulator/cli.js"),
    import("../consume/command.js"),
  ]);
  return [simCommand(), consumeCommand()];
}
