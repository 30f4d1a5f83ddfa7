import { readFileSync } from "node:fs";
import { extname, resolve } from "node:path";
import { createRequire } from "node:module";
import type { z } from "zod";
import { rememberSecrets, scrub } from "../telemetry/redact.js";
import { type Config, configSchema } from "./schema.js";

/** Every problem in a config, each with its path, e.g. `sinks[0].maxBatchRecords: expected a positive integer`. */
export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(
      `${file}: ${problems.length} problem${problems.length === 1 ? "" : "s"}\n  ${problems.join("\n  ")}`,
    );
    this.name = "ConfigError";
  }
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) {
    if (typeof p === "number") out += `[${p}]`;
    else out += out === "" ? String(p) : `.${String(p)}`;
  }
  return out || "(root)";
}

function describeIssue(issue: z.core.$ZodIssue): string[] {
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map((k) => `${formatPath([...issue.path, k])}: unknown key`);
  }
  if (issue.code === "invalid_union" && issue.errors.length > 0 && issue.message.startsWith("Invalid")) {
    // Report the branch that got furthest rather than "Invalid input".
    const best = issue.errors.reduce((a, b) => (a.length <= b.length ? a : b));
    return best.flatMap((i) => describeIssue({ ...i, path: [...issue.path, ...i.path] }));
  }
  return [`${formatPath(issue.path)}: ${issue.message}`];
}

const PLACEHOLDER = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** Replaces `${NAME}` and `${NAME:-default}` in every string; unset names are reported by path. */
export function substituteEnv(
  value: unknown,
  env: NodeJS.ProcessEnv,
  problems: string[],
  path: PropertyKey[] = [],
): unknown {
  if (typeof value === "string") {
    return value.replace(PLACEHOLDER, (whole, name: string, fallback: string | undefined) => {
      const v = env[name];
      if (v !== undefined) return v;
      if (fallback !== undefined) return fallback;
      problems.push(`${formatPath(path)}: environment variable ${name} is not set`);
      return whole;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => substituteEnv(v, env, problems, [...path, i]));
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = substituteEnv(v, env, problems, [...path, k]);
    return out;
  }
  return value;
}

export function parseConfigText(text: string, file: string): unknown {
  const ext = extname(file).toLowerCase();
  try {
    // yaml is loaded only for a YAML file: a JSON config (the default) never pays for it.
    return ext === ".yaml" || ext === ".yml" ? (requireYaml().parse(text) as unknown) : JSON.parse(text);
  } catch (err) {
    throw new ConfigError(file, [`not valid ${ext === ".json" ? "JSON" : "YAML"}: ${syntaxProblem(err)}`]);
  }
}

/**
 * The parser's complaint without the excerpt of the file it quotes (YAML's code frame, newer
 * Node's `"…" is not valid JSON`): that excerpt may be the line holding a password.
 */
export function syntaxProblem(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message
    .split(/:?\n/)[0]!
    .replace(/, "[^]*" is not valid JSON$/, " (not valid JSON)")
    .slice(0, 200);
}

/** Validates a parsed config object; throws ConfigError listing every problem. */
export function validateConfig(
  raw: unknown,
  file = "config",
  env: NodeJS.ProcessEnv = process.env,
): Readonly<Config> {
  const problems: string[] = [];
  const substituted = substituteEnv(raw, env, problems);
  const result = configSchema.safeParse(substituted);
  if (!result.success) problems.push(...result.error.issues.flatMap(describeIssue));
  if (problems.length > 0 || !result.success) {
    // A message may quote a value (`got "…"`); never one of the config's credentials.
    rememberSecrets(substituted);
    throw new ConfigError(file, problems.map(scrub));
  }
  // Every config read (start, SIGHUP reload, check, status) adds its credentials to what logs scrub.
  rememberSecrets(result.data);
  return deepFreeze(result.data);
}

export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): Readonly<Config> {
  const path = resolve(file);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(file, [
      `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    ]);
  }
  return validateConfig(parseConfigText(text, file), file, env);
}

function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === "object" && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

function requireYaml(): typeof import("yaml") {
  return createRequire(import.meta.url)("yaml") as typeof import("yaml");
}
