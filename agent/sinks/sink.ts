import type { OutRecord } from "../record/record.js";
import type { Logger } from "../telemetry/logger.js";
import type { Telemetry } from "../telemetry/telemetry.js";

/**
 * What a sink says about a batch it was handed (Telegraf's EndTransaction). Resolving with
 * `{}` means every record is durably accepted. Indices refer to the batch as handed in.
 */
export interface WriteResult {
  /** Refused for good (too large, 4xx): moved to the dead-letter table, never retried. */
  rejected?: { index: number; reason: string }[];
  /** Not accepted this time (throttled, partial failure): retried, alone, after a backoff. */
  retry?: number[];
  /** Hint for the next attempt, e.g. from Retry-After. */
  retryAfterMs?: number;
}

/** Thrown by a sink for a failure of the whole batch. */
export class SinkError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly retryable: boolean,
    readonly retryAfterMs?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "SinkError";
  }
}

export interface SinkContext {
  agentId: string;
  dataDir: string;
  log: Logger;
  telemetry: Telemetry;
}

/** One folder per sink under sinks/, each behind this interface (Telegraf's Output). */
export interface Sink {
  readonly id: string;
  readonly type: string;
  /** Connects; a failure here is retried by the shipping loop with backoff. */
  start(): Promise<void>;
  /** Writes one batch. Resolve when durable upstream; throw SinkError for a whole-batch failure. */
  write(batch: readonly OutRecord[], signal: AbortSignal): Promise<WriteResult>;
  /** Flushes and releases everything. Idempotent. */
  close(): Promise<void>;
}
