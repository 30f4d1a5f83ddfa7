import { z } from "zod";
import { validateFilter } from "../pipeline/transforms/filter.js";

/**
 * Building blocks shared by every config schema, so messages read the same everywhere:
 * `sinks[0].maxBatchRecords: expected a positive integer`.
 */

export const posInt = () =>
  z
    .number({ error: "expected a positive integer" })
    .int("expected a positive integer")
    .positive("expected a positive integer");

export const nonNegInt = () =>
  z
    .number({ error: "expected a non-negative integer" })
    .int("expected a non-negative integer")
    .min(0, "expected a non-negative integer");

export const port = () =>
  z
    .number({ error: "expected a port number" })
    .int("expected a port number")
    .min(0, "expected a port number 0-65535")
    .max(65535, "expected a port number 0-65535");

export const id = () =>
  z
    .string({ error: "expected a string" })
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, "expected 1-64 letters, digits, '.', '_' or '-'");

const UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Milliseconds, as a number or a string like "500ms", "30s", "24h", "7d". */
export const duration = () =>
  z
    .union([nonNegInt(), z.string()], { error: 'expected milliseconds or a duration like "30s", "24h"' })
    .transform((v, ctx) => {
      if (typeof v === "number") return v;
      const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/.exec(v.trim());
      if (!m) {
        ctx.addIssue({ code: "custom", message: `expected a duration like "30s", "24h", got "${v}"` });
        return z.NEVER;
      }
      return Math.round(Number(m[1]) * (UNITS_MS[m[2]!] ?? 1));
    });

const UNITS_BYTES: Record<string, number> = {
  b: 1,
  kb: 1000,
  mb: 1000 ** 2,
  gb: 1000 ** 3,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
};

/** Bytes, as a number or a string like "64KiB", "512MiB", "1GB". */
export const bytes = () =>
  z.union([posInt(), z.string()], { error: 'expected bytes or a size like "512MiB"' }).transform((v, ctx) => {
    if (typeof v === "number") return v;
    const m = /^(\d+(?:\.\d+)?)\s*([kmg]i?b|b)$/i.exec(v.trim());
    if (!m) {
      ctx.addIssue({ code: "custom", message: `expected a size like "64KiB" or "512MiB", got "${v}"` });
      return z.NEVER;
    }
    return Math.round(Number(m[1]) * (UNITS_BYTES[m[2]!.toLowerCase()] ?? 1));
  });

/** Capped exponential backoff with jitter (agent/backoff.ts). */
export const retrySchema = z
  .strictObject({
    initialMs: posInt().default(200),
    maxMs: posInt().default(30_000),
    multiplier: z.number().min(1, "expected a number >= 1").default(2),
    /** 0 = retry forever (the default: the spool holds the data meanwhile). */
    maxAttempts: nonNegInt().default(0),
  })
  .prefault({});
export type RetryConfig = z.infer<typeof retrySchema>;

export const filterTransformSchema = z.strictObject({
  type: z.literal("filter"),
  /** A filtrex expression over the record's fields, e.g. `temperature >= 35`. */
  expression: z
    .string()
    .min(1, 'expected an expression such as "temperature >= 35"')
    .superRefine((expr, ctx) => {
      const problem = validateFilter(expr);
      if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem });
    }),
});

export const aggregateTransformSchema = z.strictObject({
  type: z.literal("aggregate"),
  windowMs: duration(),
  allowedLatenessMs: duration().default(0),
  stats: z
    .array(z.enum(["count", "min", "max", "mean", "last"]))
    .min(1)
    .default(["count", "min", "max", "mean", "last"]),
});

export const transformSchema = z.discriminatedUnion(
  "type",
  [filterTransformSchema, aggregateTransformSchema],
  {
    error: 'expected a transform with type "filter" or "aggregate"',
  },
);
export type TransformConfig = z.infer<typeof transformSchema>;

/** Options every sink has: batching, retries, transforms. Spread into each sink's strictObject. */
export const sinkCommon = {
  id: id(),
  maxBatchRecords: posInt().default(500),
  maxBatchBytes: bytes().default(1024 * 1024),
  maxBufferAgeMs: duration().default(1000),
  retry: retrySchema,
  transforms: z.array(transformSchema).default([]),
};

export interface SinkCommonConfig {
  id: string;
  type: string;
  maxBatchRecords: number;
  maxBatchBytes: number;
  maxBufferAgeMs: number;
  retry: RetryConfig;
  transforms: TransformConfig[];
}
