import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { seeded } from "../kinesis/fault-proxy.js";

/**
 * An in-process stand-in for Kinesis Data Firehose's PutRecordBatch, speaking its JSON 1.1
 * protocol the way the AWS SDK sends it (POST /, `X-Amz-Target: Firehose_20150804.PutRecordBatch`,
 * `Content-Type: application/x-amz-json-1.1`, base64 `Data`), with the service's limits checked
 * and faults injected with seeded randomness. A record reported failed is never stored; a cut
 * connection happens after the whole call was stored, which is how duplicates arise.
 */
export interface FirehoseFaults {
  /** Per record: answered ServiceUnavailableException (70 %) or InternalFailure. */
  recordFailure: number;
  /** Per call: answered 500 InternalFailure or 503 ServiceUnavailableException, nothing stored. */
  serverError: number;
  /** Per call: stored, then the connection is destroyed before the answer. */
  cutAfterAccept: number;
}

export interface FirehoseCall {
  target: string;
  contentType: string;
  stream: string;
  records: number;
  bytes: number;
}

export interface FirehoseEndpoint {
  endpoint: string;
  faults: FirehoseFaults;
  /** Every stored record's data, in arrival order. */
  stored: Buffer[];
  calls: FirehoseCall[];
  /** Refuses connections (destroys them on arrival) until set back to false. */
  down: boolean;
  /** Limits the SDK request broke, if any (a correct sink never does). */
  violations: string[];
  counts: { failedRecords: number; serverErrors: number; cuts: number };
  close(): Promise<void>;
}

const LIMITS = { records: 500, callBytes: 4 * 1024 * 1024, recordBytes: 1000 * 1024 };
const JSON11 = { "content-type": "application/x-amz-json-1.1" };

export async function startFirehoseEndpoint(
  faults: Partial<FirehoseFaults> = {},
  seed = 1,
): Promise<FirehoseEndpoint> {
  const rnd = seeded(seed);
  const ep = {
    faults: { recordFailure: 0, serverError: 0, cutAfterAccept: 0, ...faults },
    stored: [] as Buffer[],
    calls: [] as FirehoseCall[],
    down: false,
    violations: [] as string[],
    counts: { failedRecords: 0, serverErrors: 0, cuts: 0 },
  };
  const answer = (res: ServerResponse, status: number, body: unknown) => {
    const b = Buffer.from(JSON.stringify(body));
    res.writeHead(status, {
      ...JSON11,
      "content-length": String(b.length),
      "x-amzn-requestid": randomUUID(),
    });
    res.end(b);
  };
  const error = (res: ServerResponse, status: number, type: string, message: string) =>
    answer(res, status, { __type: type, message });

  function handle(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
    const target = String(req.headers["x-amz-target"] ?? "");
    if (req.method !== "POST" || target !== "Firehose_20150804.PutRecordBatch")
      return error(res, 400, "UnknownOperationException", `not served here: ${target}`);
    const input = JSON.parse(body.toString("utf8")) as {
      DeliveryStreamName?: string;
      Records?: { Data?: string }[];
    };
    const records = (input.Records ?? []).map((r) => Buffer.from(r.Data ?? "", "base64"));
    const bytes = records.reduce((n, r) => n + r.length, 0);
    ep.calls.push({
      target,
      contentType: String(req.headers["content-type"] ?? ""),
      stream: input.DeliveryStreamName ?? "",
      records: records.length,
      bytes,
    });
    if (records.length === 0 || records.length > LIMITS.records || bytes > LIMITS.callBytes) {
      ep.violations.push(`call with ${records.length} records, ${bytes} bytes`);
      return error(res, 400, "InvalidArgumentException", "batch outside PutRecordBatch limits");
    }
    const big = records.find((r) => r.length > LIMITS.recordBytes);
    if (big) {
      ep.violations.push(`record of ${big.length} bytes`);
      return error(res, 400, "InvalidArgumentException", "record larger than 1,000 KiB");
    }
    if (rnd() < ep.faults.serverError) {
      ep.counts.serverErrors++;
      return rnd() < 0.5
        ? error(res, 500, "InternalFailure", "injected")
        : error(res, 503, "ServiceUnavailableException", "Slow down (injected)");
    }
    const responses = records.map((data) => {
      if (rnd() < ep.faults.recordFailure) {
        ep.counts.failedRecords++;
        return rnd() < 0.7
          ? { ErrorCode: "ServiceUnavailableException", ErrorMessage: "Slow down (injected)" }
          : { ErrorCode: "InternalFailure", ErrorMessage: "Internal failure (injected)" };
      }
      ep.stored.push(data);
      return { RecordId: randomUUID().replace(/-/g, "") };
    });
    if (rnd() < ep.faults.cutAfterAccept) {
      ep.counts.cuts++;
      req.socket.destroy();
      return;
    }
    answer(res, 200, {
      FailedPutCount: responses.filter((r) => "ErrorCode" in r).length,
      Encrypted: false,
      RequestResponses: responses,
    });
  }

  const server = createServer((req, res) => {
    if (ep.down) {
      req.socket.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => handle(req, res, Buffer.concat(chunks)));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const { port } = server.address() as AddressInfo;
  return Object.assign(ep, {
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  });
}
