import {
  Agent,
  createServer,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A fault-injecting HTTP proxy in front of a real kinesalite (kinesalite never throttles).
 * PutRecords faults keep the semantics honest: an entry reported failed is never stored (it is
 * taken out of the forwarded request), and a cut connection happens after kinesalite stored
 * the whole request, which is exactly how duplicates arise in production.
 */
export interface Faults {
  /** Per PutRecords entry: reported ProvisionedThroughputExceededException / InternalFailure. */
  entryFailure: number;
  /** Per PutRecords request: answered 500/503 without forwarding. */
  serverError: number;
  /** Per PutRecords request: forwarded, stored, then the client's connection is destroyed. */
  cutAfterAccept: number;
}

export interface FaultCounts {
  putRecords: number;
  failedEntries: number;
  serverErrors: number;
  cuts: number;
}

export interface FaultProxy {
  endpoint: string;
  faults: Faults;
  counts: FaultCounts;
  /** Every PutRecords request as sent by the client, failed and retried ones included. */
  attempts: PutEntry[][];
  close(): Promise<void>;
}

export interface PutEntry {
  Data: string;
  PartitionKey: string;
  ExplicitHashKey?: string;
}
interface PutAnswer {
  SequenceNumber?: string;
  ShardId?: string;
  ErrorCode?: string;
  ErrorMessage?: string;
}

/** Deterministic randomness so a failing run can be replayed. */
export function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Upstream {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** What a proxy handler gets: the request, its body, and ways to forward or answer it. */
export interface ProxyCall {
  req: IncomingMessage;
  res: ServerResponse;
  body: Buffer;
  forward(body?: Buffer): Promise<Upstream>;
  reply(status: number, headers: Record<string, string>, body: Buffer): void;
}

export interface Proxy {
  endpoint: string;
  close(): Promise<void>;
}

/**
 * A node:http proxy on 127.0.0.1 in front of `target` (kinesalite, dynalite): every request
 * goes through `handle`, which forwards it (possibly changed), answers it itself, or cuts it.
 */
export async function startProxy(target: string, handle: (call: ProxyCall) => Promise<void>): Promise<Proxy> {
  const up = new URL(target);
  const agent = new Agent({ keepAlive: true });
  const forward = (req: IncomingMessage, body: Buffer): Promise<Upstream> =>
    new Promise((resolve, reject) => {
      const headers = { ...req.headers, host: up.host, "content-length": String(body.length) };
      const r = request(
        { host: up.hostname, port: up.port, method: req.method, path: req.url, headers, agent },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const h: Record<string, string> = {};
            for (const [k, v] of Object.entries(res.headers)) if (typeof v === "string") h[k] = v;
            resolve({ status: res.statusCode ?? 500, headers: h, body: Buffer.concat(chunks) });
          });
          res.on("error", reject);
        },
      );
      r.on("error", reject);
      r.end(body);
    });
  const reply = (res: ServerResponse, status: number, headers: Record<string, string>, body: Buffer) => {
    const h: Record<string, string> = { ...headers, "content-length": String(body.length) };
    delete h["transfer-encoding"];
    res.writeHead(status, h).end(body);
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const call: ProxyCall = {
        req,
        res,
        body,
        forward: (b = body) => forward(req, b),
        reply: (status, headers, b) => reply(res, status, headers, b),
      };
      handle(call).catch(() => {
        if (!res.headersSent) res.writeHead(502).end();
        else res.destroy();
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        agent.destroy();
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export async function startFaultProxy(target: string, faults: Faults, seed = 1): Promise<FaultProxy> {
  const rnd = seeded(seed);
  const counts: FaultCounts = { putRecords: 0, failedEntries: 0, serverErrors: 0, cuts: 0 };
  const attempts: PutEntry[][] = [];

  async function handle({ req, body, forward, reply }: ProxyCall): Promise<void> {
    const target = String(req.headers["x-amz-target"] ?? "");
    if (!target.endsWith(".PutRecords")) {
      const r = await forward();
      return reply(r.status, r.headers, r.body);
    }
    counts.putRecords++;
    const input = JSON.parse(body.toString("utf8")) as { StreamName: string; Records: PutEntry[] };
    attempts.push(input.Records);
    if (rnd() < faults.serverError) {
      counts.serverErrors++;
      const status = rnd() < 0.5 ? 500 : 503;
      const type = status === 500 ? "InternalFailure" : "ServiceUnavailable";
      const msg = Buffer.from(JSON.stringify({ __type: type, message: "injected" }));
      return reply(status, { "content-type": "application/x-amz-json-1.1" }, msg);
    }
    const failed = input.Records.map(() => rnd() < faults.entryFailure);
    const kept = input.Records.filter((_, i) => !failed[i]);
    let answers: PutAnswer[] = [];
    if (kept.length > 0) {
      const upstream = await forward(Buffer.from(JSON.stringify({ ...input, Records: kept })));
      if (upstream.status !== 200) return reply(upstream.status, upstream.headers, upstream.body);
      answers = (JSON.parse(upstream.body.toString("utf8")) as { Records: PutAnswer[] }).Records;
    }
    if (rnd() < faults.cutAfterAccept) {
      counts.cuts++;
      req.socket.destroy();
      return;
    }
    let j = 0;
    const merged: PutAnswer[] = [];
    input.Records.forEach((_, i) => {
      if (failed[i]) {
        counts.failedEntries++;
        const throttle = rnd() < 0.7;
        merged[i] = throttle
          ? {
              ErrorCode: "ProvisionedThroughputExceededException",
              ErrorMessage: "Rate exceeded for shard (injected)",
            }
          : { ErrorCode: "InternalFailure", ErrorMessage: "Internal service failure (injected)" };
      } else merged[i] = answers[j++]!;
    });
    const out = Buffer.from(
      JSON.stringify({ FailedRecordCount: failed.filter(Boolean).length, Records: merged }),
    );
    reply(200, { "content-type": "application/x-amz-json-1.1" }, out);
  }

  const proxy = await startProxy(target, handle);
  return { ...proxy, faults, counts, attempts };
}
