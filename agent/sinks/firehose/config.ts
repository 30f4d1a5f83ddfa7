import { z } from "zod";
import { bytes, duration, posInt, sinkCommon } from "../../config/common.js";

/** Firehose service limits (PutRecordBatch): the sink never builds a request past them. */
export const FIREHOSE_LIMITS = {
  recordsPerCall: 500,
  /** All records' data in one call, before base64. */
  bytesPerCall: 4 * 1024 * 1024,
  /** One record's data, before base64. */
  bytesPerRecord: 1000 * 1024,
  /** Firehose bills ingestion per record, rounded up to this. */
  billingStep: 5 * 1024,
} as const;

export const firehoseSinkSchema = z.strictObject({
  type: z.literal("firehose"),
  ...sinkCommon,
  /** One shipping batch fills one PutRecordBatch call when packed. */
  maxBatchRecords: posInt().default(5000),
  maxBatchBytes: bytes().default(4 * 1024 * 1024),
  maxBufferAgeMs: duration().default(1000),
  /** Delivery stream name. */
  deliveryStream: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, "expected a delivery stream name of 1-64 letters, digits, _ . -"),
  /** AWS region; defaults to AWS_REGION / AWS_DEFAULT_REGION, or us-east-1 with a local endpoint. */
  region: z.string().min(1).optional(),
  /** A local or VPC endpoint. */
  endpoint: z.url({ error: "expected a URL such as https://firehose.eu-west-1.amazonaws.com" }).optional(),
  /** Static credentials; without them the standard AWS chain is used (env, profile, instance role). */
  accessKeyId: z.string().min(1).optional(),
  secretAccessKey: z.string().min(1).optional(),
  sessionToken: z.string().min(1).optional(),
  /**
   * Several readings per Firehose record as newline-delimited JSON, up to this size. Firehose
   * bills every record rounded up to 5 KiB, so one ~200-byte reading per record pays for 25
   * times its size; the default (the Firehose record limit, 200 billing steps) wastes at most
   * the last step of each record. `false` sends one reading per record.
   */
  packing: z.boolean().default(true),
  maxRecordBytes: bytes()
    .default(FIREHOSE_LIMITS.bytesPerRecord)
    .refine((n) => n >= 1024 && n <= FIREHOSE_LIMITS.bytesPerRecord, "expected 1KiB to 1000KiB"),
  /** Attempts for failed records inside one write before they go back to the shipping loop. */
  entryAttempts: posInt().default(4),
  /** One HTTP request's deadline; a timeout is a retryable failure of the whole batch. */
  requestTimeoutMs: duration().default(10_000),
});
export type FirehoseSinkConfig = z.infer<typeof firehoseSinkSchema>;
