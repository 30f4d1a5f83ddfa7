import { hostname } from "node:os";
import { z } from "zod";
import { sinkSchemas, sourceSchemas } from "../plugins.js";
import { bytes, duration, id, port, posInt } from "./common.js";
import { healthSchema } from "./health.js";

export const spoolSchema = z
  .strictObject({
    /** Largest amount of record data kept on disk. */
    maxBytes: bytes().default(512 * 1024 * 1024),
    /** Oldest record kept, by receive time (Kinesis' default retention is 24h). */
    maxAgeMs: duration().default(24 * 3_600_000),
    /** What a full spool does: drop the oldest records, refuse new ones, or stop acknowledging producers. */
    onFull: z.enum(["drop-oldest", "drop-newest", "block"]).default("drop-oldest"),
    /** normal survives a process crash; full also survives power loss (fsync every commit). */
    sync: z.enum(["normal", "full"]).default("normal"),
    /** Most readings committed in one transaction. */
    maxCommitRecords: posInt().default(5000),
    /**
     * How long a group commit may wait for more readings while another sender is active (0:
     * commit at once; a lone sender never waits). Acknowledgements still wait for the commit.
     */
    commitDelayMs: duration().default(100),
    /**
     * Encrypts the spool at rest (SQLite3MultipleCiphers, ChaCha20-Poly1305), for a board that
     * can be stolen. Give it from the environment: "${EDGESPOOL_SPOOL_KEY}".
     */
    key: z
      .string()
      .min(16, "expected at least 16 characters, e.g. the output of `openssl rand -hex 32`")
      .optional(),
    /** Most bytes dead letters may take (default: a tenth of maxBytes); the oldest go first. */
    deadLetterMaxBytes: bytes().optional(),
  })
  .prefault({});

export const httpSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    host: z.string().default("127.0.0.1"),
    port: port().default(9464),
    /**
     * Credentials for the status page and /api/status: `{ token }` (Authorization: Bearer, or
     * `?token=` in the page URL) or `{ username, password }` (HTTP basic auth). Without them the
     * page is only served on a loopback address. /metrics and /healthz stay open.
     */
    auth: z
      .union(
        [
          z.strictObject({ token: z.string().min(16, "expected a token of at least 16 characters") }),
          z.strictObject({
            username: z.string().min(1),
            password: z.string().min(8, "expected at least 8 characters"),
          }),
        ],
        { error: "expected { token } or { username, password }" },
      )
      .optional(),
    /** Sensors the status page keeps an hour of history for; the least recently seen is evicted. */
    maxChartSensors: posInt().default(200),
  })
  .prefault({});

const sourceUnion = z.discriminatedUnion("type", sourceSchemas, {
  error: (iss) =>
    iss.code === "invalid_union"
      ? `expected a source type: ${sourceSchemas.map((s) => s.shape.type.value).join(", ")}`
      : undefined,
});
const sinkUnion = z.discriminatedUnion("type", sinkSchemas, {
  error: (iss) =>
    iss.code === "invalid_union"
      ? `expected a sink type: ${sinkSchemas.map((s) => s.shape.type.value).join(", ")}`
      : undefined,
});

export const configSchema = z
  .strictObject({
    $schema: z.string().optional(),
    agentId: id().default(
      hostname()
        .replace(/[^A-Za-z0-9._-]/g, "-")
        .slice(0, 64) || "edgespool",
    ),
    dataDir: z.string().min(1).default("./data"),
    sources: z.array(sourceUnion).default([]),
    sinks: z.array(sinkUnion).min(1, "expected at least one sink"),
    spool: spoolSchema,
    http: httpSchema,
    health: healthSchema,
    /** How long SIGTERM waits for in-flight batches before closing anyway. */
    shutdownTimeoutMs: duration().default(10_000),
    log: z
      .strictObject({
        level: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
      })
      .prefault({}),
  })
  .superRefine((cfg, ctx) => {
    const seen = new Map<string, string>();
    const check = (list: { id: string }[], key: "sources" | "sinks") =>
      list.forEach((item, i) => {
        const prev = seen.get(item.id);
        if (prev !== undefined)
          ctx.addIssue({
            code: "custom",
            path: [key, i, "id"],
            message: `duplicate id "${item.id}" (also ${prev})`,
          });
        else seen.set(item.id, `${key}[${i}]`);
      });
    check(cfg.sources, "sources");
    check(cfg.sinks, "sinks");
  });

export type Config = z.infer<typeof configSchema>;
export type SpoolConfig = Config["spool"];
