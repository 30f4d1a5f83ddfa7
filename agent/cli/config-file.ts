import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** `--config` if given; else ./config/default.json, else the one shipped with the package. */
export function resolveConfigPath(given: string | undefined): string {
  if (given !== undefined) return resolve(given);
  const local = resolve("config/default.json");
  if (existsSync(local)) return local;
  // dist/agent/cli/ → package root
  return join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "config", "default.json");
}
