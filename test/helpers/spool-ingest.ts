import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SinkCommonConfig } from "../../agent/config/common.js";
import { createIngest, type IngestQueue } from "../../agent/pipeline/ingest.js";
import { Shipper } from "../../agent/pipeline/shipper.js";
import { createTransforms } from "../../agent/pipeline/transforms/index.js";
import type { CanonicalRecord } from "../../agent/record/record.js";
import type { Sink } from "../../agent/sinks/sink.js";
import type { Ingest, SourceContext } from "../../agent/sources/source.js";
import { openSpool, type SpoolOptions } from "../../agent/spool/index.js";
import type { SpoolApi } from "../../agent/spool/types.js";
import { type Logger, silentLogger } from "../../agent/telemetry/logger.js";
import { Telemetry } from "../../agent/telemetry/telemetry.js";

/**
 * The real spool with the agent's defaults (sync normal, 512 MiB, 24 h, drop-oldest), in a fresh
 * temp folder unless `dir` is given; any option can be overridden.
 */
export function openTestSpool(o: Partial<SpoolOptions> = {}): { spool: SpoolApi; telemetry: Telemetry } {
  const telemetry = o.telemetry ?? new Telemetry();
  const spool = openSpool({
    dir: join(mkdtempSync(join(tmpdir(), "edgespool-spool-")), "data"),
    sync: "normal",
    maxBytes: 512 * 1024 * 1024,
    maxAgeMs: 24 * 3_600_000,
    onFull: "drop-oldest",
    ...o,
    telemetry,
  });
  return { spool, telemetry };
}

/** A started shipping loop for `sink` over `spool` (its cursor created), wired as the agent does. */
export function startTestShipper(
  spool: SpoolApi,
  sink: Sink,
  cfg: SinkCommonConfig,
  telemetry: Telemetry,
  opts: { agentId?: string; idlePollMs?: number } = {},
): Shipper {
  spool.setSinks([sink.id]);
  const transforms = createTransforms(cfg.transforms, { agentId: opts.agentId ?? "t" });
  const shipper = new Shipper(spool, sink, cfg, transforms, telemetry, { idlePollMs: opts.idlePollMs ?? 10 });
  shipper.start();
  return shipper;
}

/** The real spool (SQLite in a temp dir) and group-commit ingest, as the agent wires them for sources. */
export class SpoolIngest {
  readonly base = mkdtempSync(join(tmpdir(), "edgespool-src-"));
  readonly telemetry: Telemetry;
  readonly spool: SpoolApi;
  readonly ingest: IngestQueue;

  constructor(readonly log: Logger = silentLogger()) {
    this.telemetry = new Telemetry(log);
    this.spool = openTestSpool({ dir: join(this.base, "data"), telemetry: this.telemetry }).spool;
    // One sink cursor, never advanced, so every committed record stays readable.
    this.spool.setSinks(["test"]);
    this.ingest = createIngest(this.spool, this.telemetry, { agentId: "test-agent", maxCommitRecords: 5000 });
  }

  context(ingest: Ingest = this.ingest): SourceContext {
    return {
      agentId: "test-agent",
      dataDir: join(this.base, "data"),
      ingest,
      log: this.log,
      telemetry: this.telemetry,
    };
  }

  records(): CanonicalRecord[] {
    return this.spool.read(0, 10_000_000).map((r) => JSON.parse(r.body) as CanonicalRecord);
  }

  async rejected(source: string, reason: string): Promise<number> {
    const m = await this.telemetry.rejected.get();
    return m.values.find((v) => v.labels.source === source && v.labels.reason === reason)?.value ?? 0;
  }

  async close(): Promise<void> {
    await this.ingest.close();
    this.spool.close();
    rmSync(this.base, { recursive: true, force: true });
  }
}
