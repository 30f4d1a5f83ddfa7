import {
  FirehoseClient,
  PutRecordBatchCommand,
  type PutRecordBatchResponseEntry,
} from "@aws-sdk/client-firehose";
import { backoffDelay, sleep } from "../../backoff.js";
import { awsClientConfig, errorCode } from "../kinesis/client.js";
import { type Sink, type SinkContext, SinkError, type WriteResult } from "../sink.js";
import type { FirehoseSinkConfig } from "./config.js";
import { billedUnits, calls, type Packed, pack, type Reading } from "./packing.js";

/** Counters a test or benchmark can read; failures also go to telemetry. */
export interface FirehoseSinkStats {
  calls: number;
  recordsSent: number;
  recordsFailed: number;
  throttled: number;
  /** Readings inside records Firehose accepted. */
  readingsAccepted: number;
  /** 5 KiB units Firehose bills for the records it accepted. */
  billedUnits: number;
}

export interface FirehoseSink extends Sink {
  stats(): FirehoseSinkStats;
}

const THROTTLE = "ServiceUnavailableException";
/** In-call backoff between rounds with failed records: short, the shipping loop owns the long waits. */
const ENTRY_BACKOFF = { initialMs: 50, maxMs: 1000 };

interface Pending extends Packed {
  attempts: number;
}

/**
 * Kinesis Data Firehose sink: readings packed as NDJSON into Firehose records, sent with
 * PutRecordBatch within the service's limits. Records Firehose reports failed are resent alone
 * a few times inside one write (throttling backs off); after that their readings go back to the
 * shipping loop as `retry`. A failure of a whole call before anything was accepted is a
 * retryable SinkError: the loop resends the same readings, with the same ids, so the
 * destination can drop what arrived twice.
 */
export function createFirehoseSink(
  cfg: FirehoseSinkConfig,
  ctx: SinkContext,
  deps: { client?: FirehoseClient } = {},
): FirehoseSink {
  const client = deps.client ?? new FirehoseClient(awsClientConfig(cfg, "firehose"));
  const stats: FirehoseSinkStats = {
    calls: 0,
    recordsSent: 0,
    recordsFailed: 0,
    throttled: 0,
    readingsAccepted: 0,
    billedUnits: 0,
  };
  let closed = false;

  function wholeFailure(err: unknown): SinkError {
    if (err instanceof SinkError) return err;
    const msg = err instanceof Error ? err.message : String(err);
    return new SinkError(`firehose ${cfg.deliveryStream}: ${msg}`, errorCode(err), true, undefined, {
      cause: err,
    });
  }

  async function put(records: Pending[], signal: AbortSignal): Promise<PutRecordBatchResponseEntry[]> {
    stats.calls++;
    stats.recordsSent += records.length;
    const res = await client.send(
      new PutRecordBatchCommand({
        DeliveryStreamName: cfg.deliveryStream,
        Records: records.map((r) => ({ Data: r.data })),
      }),
      { abortSignal: signal },
    );
    return res.RequestResponses ?? [];
  }

  /** Marks one call's records accepted or failed; returns the failed ones. */
  function settle(sent: Pending[], answers: PutRecordBatchResponseEntry[]): Pending[] {
    const failed: Pending[] = [];
    const codes = new Map<string, number>();
    sent.forEach((r, i) => {
      const a = answers[i];
      const code = a?.ErrorCode ?? (a?.RecordId ? undefined : "MissingResult");
      if (!code) {
        stats.readingsAccepted += r.indices.length;
        stats.billedUnits += billedUnits(r.data.length);
        return;
      }
      if (code === THROTTLE) stats.throttled++;
      r.attempts++;
      failed.push(r);
      codes.set(code, (codes.get(code) ?? 0) + 1);
    });
    for (const [code, n] of codes) {
      stats.recordsFailed += n;
      ctx.telemetry.sinkError(cfg.id, code, `${n} of ${sent.length} Firehose records failed`, true);
    }
    return failed;
  }

  return {
    id: cfg.id,
    type: "firehose",
    stats: () => ({ ...stats }),

    start: () => Promise.resolve(),

    async write(batch, signal) {
      if (closed) throw new SinkError("firehose sink closed", "closed", true);
      const readings: Reading[] = [];
      const rejected: NonNullable<WriteResult["rejected"]> = [];
      batch.forEach((r, index) => {
        const body = Buffer.from(r.body, "utf8");
        if (body.length + 1 > cfg.maxRecordBytes) {
          rejected.push({
            index,
            reason: `too-large: ${body.length} bytes, a Firehose record holds ${cfg.maxRecordBytes}`,
          });
        } else if (body.includes(0x0a)) {
          rejected.push({ index, reason: "newline in record body: cannot be sent as NDJSON" });
        } else readings.push({ index, body });
      });
      let pending: Pending[] = pack(readings, cfg.maxRecordBytes, !cfg.packing).map((p) => ({
        ...p,
        attempts: 0,
      }));
      const parked: Pending[] = [];
      let accepted = 0;
      const result = (): WriteResult => {
        const retry = [...pending, ...parked].flatMap((p) => p.indices).sort((a, b) => a - b);
        return { ...(rejected.length > 0 ? { rejected } : {}), ...(retry.length > 0 ? { retry } : {}) };
      };
      while (pending.length > 0) {
        if (signal.aborted) throw new SinkError("firehose write aborted", "aborted", true);
        const failed: Pending[] = [];
        const groups = calls(pending);
        for (let g = 0; g < groups.length; g++) {
          const group = groups[g]!;
          let answers: PutRecordBatchResponseEntry[];
          try {
            answers = await put(group, signal);
          } catch (err) {
            const e = wholeFailure(err);
            if (e.code === THROTTLE && !signal.aborted) {
              // The whole call throttled: its records try again after a backoff, like failed ones.
              stats.throttled++;
              for (const r of group) r.attempts++;
              failed.push(...group);
              continue;
            }
            // Nothing accepted yet: the loop resends the same batch. Otherwise only what is left.
            if (accepted === 0 || signal.aborted) throw e;
            ctx.telemetry.sinkError(cfg.id, e.code, e, true);
            pending = [...failed, ...groups.slice(g).flat()];
            return result();
          }
          const bad = settle(group, answers);
          accepted += group.length - bad.length;
          failed.push(...bad);
        }
        pending = failed.filter((p) => p.attempts < cfg.entryAttempts);
        parked.push(...failed.filter((p) => p.attempts >= cfg.entryAttempts));
        if (pending.length > 0) {
          // Back off by how often the worst record failed, not by rounds.
          const worst = Math.max(...pending.map((p) => p.attempts));
          await sleep(backoffDelay(worst - 1, ENTRY_BACKOFF), signal);
        }
      }
      return result();
    },

    async close() {
      if (closed) return;
      closed = true;
      if (!deps.client) client.destroy();
    },
  };
}
