import type { Reading } from "../record/record.js";
import type { Logger } from "../telemetry/logger.js";
import type { Telemetry } from "../telemetry/telemetry.js";

/**
 * Where sources hand readings to the agent. `submit` resolves only after the readings are
 * committed in the spool (group commit): acknowledge the sender (PUBACK, broker ack) then, and in
 * the order the promises were created, which is the order they resolve in.
 */
export interface Ingest {
  /**
   * `sender` tells apart the senders of one source (an MQTT client id): commits wait for company
   * only while another sender is active. Without it the whole source counts as one sender.
   */
  submit(source: string, readings: readonly Reading[], sender?: string): Promise<IngestOutcome>;
  /** Counts a rejected input by reason and logs it at a bounded rate. The sender may be acked. */
  reject(source: string, reason: string, detail?: string): void;
}

export interface IngestOutcome {
  stored: number;
  duplicates: number;
  /** Refused because the spool was full under `onFull: drop-newest` (counted, logged). */
  dropped: number;
}

export interface SourceContext {
  agentId: string;
  dataDir: string;
  ingest: Ingest;
  log: Logger;
  telemetry: Telemetry;
}

/** A source reads devices and hands readings to `ingest`. One folder per source under sources/. */
export interface Source {
  readonly id: string;
  readonly type: string;
  /** Starts reading. Resolves once listening/connected (or retrying in the background). */
  start(): Promise<void>;
  /** Stops accepting input and releases everything it holds. Idempotent. */
  stop(): Promise<void>;
}
