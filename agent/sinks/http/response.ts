import { createHash } from "node:crypto";
import type { OutRecord } from "../../record/record.js";
import { SinkError, type WriteResult } from "../sink.js";

/** The same batch, retried, gets the same key; the receiver can use it to drop a repeated POST. */
export function idempotencyKey(sinkId: string, batch: readonly OutRecord[]): string {
  const h = createHash("sha256").update(sinkId);
  for (const r of batch) h.update("\n").update(r.id);
  return h.digest("base64url").slice(0, 32);
}

/** Retry-After as delay-seconds or an HTTP date (RFC 9110 §10.2.3), in ms from `now`. */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * 2xx: accepted. 408, 429, 5xx: the whole batch is retried (after Retry-After when given). 3xx:
 * retried too — a moved endpoint is a config problem, and the spool keeps the data meanwhile.
 * Any other 4xx: the receiver refuses these records for good; they go to the dead-letter table.
 */
export function interpret(
  status: number,
  excerpt: string,
  retryAfter: string | undefined,
  size: number,
  now: number,
): WriteResult {
  if (status >= 200 && status < 300) return {};
  const detail = excerpt ? `: ${excerpt}` : "";
  if (status === 408 || status === 429 || status >= 500 || status < 400) {
    const after = parseRetryAfter(retryAfter, now);
    throw new SinkError(`http sink: HTTP ${status}${detail}`, `HTTP_${status}`, true, after);
  }
  const reason = `HTTP ${status}${detail}`;
  return { rejected: Array.from({ length: size }, (_, index) => ({ index, reason })) };
}
