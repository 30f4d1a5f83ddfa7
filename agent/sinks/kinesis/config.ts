import { z } from "zod";
import { bytes, duration, posInt, sinkCommon } from "../../config/common.js";

/** Kinesis service limits (PutRecords): the sink never builds a request past them. */
export const KINESIS_LIMITS = {
  recordsPerCall: 500,
  bytesPerCall: 5 * 1024 * 1024,
  /** One record's data plus its partition key. */
  bytesPerRecord: 1024 * 1024,
  partitionKeyChars: 256,
} as const;

export const kinesisSinkSchema = z.strictObject({
  type: z.literal("kinesis"),
  ...sinkCommon,
  /**
   * Larger batches than other sinks: with aggregation one PutRecords carries thousands of
   * readings, and a short buffer age keeps publish-to-ack latency under a second at 1,000/s.
   */
  maxBatchRecords: posInt().default(5000),
  maxBatchBytes: bytes().default(4 * 1024 * 1024),
  maxBufferAgeMs: duration().default(300),
  /** Stream name. */
  stream: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,128}$/, "expected a stream name of 1-128 letters, digits, _ . -"),
  /** AWS region; defaults to AWS_REGION / AWS_DEFAULT_REGION, or us-east-1 with a local endpoint. */
  region: z.string().min(1).optional(),
  /** A local or VPC endpoint, e.g. http://127.0.0.1:4567 for kinesalite. */
  endpoint: z.url({ error: "expected a URL such as http://127.0.0.1:4567" }).optional(),
  /** Static credentials; without them the standard AWS chain is used (env, profile, instance role). */
  accessKeyId: z.string().min(1).optional(),
  secretAccessKey: z.string().min(1).optional(),
  sessionToken: z.string().min(1).optional(),
  /** KPL aggregation: many readings per Kinesis record, shard-consistent, KCL-compatible. */
  aggregation: z.boolean().default(true),
  /**
   * Largest aggregate (KPL's AggregationMaxSize). One aggregate per shard is in flight at a
   * time (that is what keeps per-sensor order under partial failures), so the default is the
   * Kinesis record limit: one call can carry a shard's full second of budget.
   */
  maxAggregateBytes: bytes()
    .default(1024 * 1024)
    .refine((n) => n >= 1024 && n <= 1024 * 1024, "expected 1KiB to 1MiB"),
  /** `sensor` (keeps per-sensor order), `agent`, `random`, or a template such as `{agent}/{sensor}`. */
  partitionKey: z.string().min(1).max(256).default("sensor"),
  /** Per-shard write budget the agent keeps to, instead of running into throttling. */
  shardLimits: z
    .strictObject({
      enabled: z.boolean().default(true),
      recordsPerSecond: posInt().default(1000),
      bytesPerSecond: bytes().default(1024 * 1024),
    })
    .prefault({}),
  /** Attempts for failed entries inside one write before they go back to the shipping loop. */
  entryAttempts: posInt().default(4),
  /** One HTTP request's deadline; a timeout is a retryable failure of the whole batch. */
  requestTimeoutMs: duration().default(10_000),
  /** How often the shard map is re-read even without a sign of resharding. */
  shardRefreshMs: duration().default(60_000),
});
export type KinesisSinkConfig = z.infer<typeof kinesisSinkSchema>;
