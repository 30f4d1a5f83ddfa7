import type { Command } from "commander";

/** Commands that live beside the agent: the fleet simulator and the Kinesis consumer. */
export async function extraCommands(): Promise<Command[]> {
  const out: Command[] = [];
  return out;
}
