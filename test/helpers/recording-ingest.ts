import type { Reading } from "../../agent/record/record.js";
import type { Ingest, IngestOutcome, SourceContext } from "../../agent/sources/source.js";
import { type Logger, silentLogger } from "../../agent/telemetry/logger.js";
import { Telemetry } from "../../agent/telemetry/telemetry.js";

/** An Ingest that keeps what sources hand it, for unit tests that need no spool. */
export class RecordingIngest implements Ingest {
  readonly readings: { source: string; reading: Reading }[] = [];
  readonly rejects: { source: string; reason: string; detail?: string }[] = [];

  async submit(source: string, readings: readonly Reading[]): Promise<IngestOutcome> {
    for (const reading of readings) this.readings.push({ source, reading });
    return { stored: readings.length, duplicates: 0, dropped: 0 };
  }

  reject(source: string, reason: string, detail?: string): void {
    this.rejects.push({ source, reason, detail });
  }

  rejectCount(reason: string): number {
    return this.rejects.filter((r) => r.reason === reason).length;
  }
}

export function recordingContext(
  ingest: Ingest = new RecordingIngest(),
  log: Logger = silentLogger(),
): SourceContext {
  return { agentId: "test-agent", dataDir: "/nonexistent", ingest, log, telemetry: new Telemetry(log) };
}

export { waitFor } from "./basics.js";
