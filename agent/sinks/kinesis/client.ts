import { KinesisClient, ListShardsCommand, type Shard } from "@aws-sdk/client-kinesis";
import { NodeHttpHandler } from "@smithy/node-http-handler";

/** What the sink and the consumer need to reach a stream; shared so both are configured alike. */
export interface KinesisEndpoint {
  region?: string | undefined;
  endpoint?: string | undefined;
  accessKeyId?: string | undefined;
  secretAccessKey?: string | undefined;
  sessionToken?: string | undefined;
  requestTimeoutMs?: number | undefined;
}

function resolveRegion(o: KinesisEndpoint, service: string): string {
  const region = o.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
  if (region) return region;
  if (o.endpoint) return "us-east-1";
  throw new Error(`${service}: no region: set \`region\` in the config or AWS_REGION`);
}

/**
 * Settings every SDK v3 client here shares (Kinesis, DynamoDB, Firehose): HTTP/1.1
 * (`NodeHttpHandler`), since the default handler fails against local endpoints such as
 * kinesalite and dynalite; SDK-level retries off, since the callers retry per entry and the
 * shipping loop retries whole batches, so one place decides (and counts) every retry.
 */
export function awsClientConfig(o: KinesisEndpoint, service: string) {
  // The project targets Node 20 (package.json engines) with a pinned SDK: the SDK's notice that
  // future releases need Node 22 would print a multi-line warning on every start. An explicit
  // setting in the environment still wins.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  const credentials =
    o.accessKeyId && o.secretAccessKey
      ? {
          accessKeyId: o.accessKeyId,
          secretAccessKey: o.secretAccessKey,
          ...(o.sessionToken ? { sessionToken: o.sessionToken } : {}),
        }
      : undefined;
  return {
    region: resolveRegion(o, service),
    ...(o.endpoint ? { endpoint: o.endpoint } : {}),
    ...(credentials ? { credentials } : {}),
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler({
      connectionTimeout: Math.min(5000, o.requestTimeoutMs ?? 10_000),
      requestTimeout: o.requestTimeoutMs ?? 10_000,
    }),
  };
}

export function createKinesisClient(o: KinesisEndpoint): KinesisClient {
  return new KinesisClient(awsClientConfig(o, "kinesis"));
}

/** Every shard of a stream, open and closed, following NextToken. */
export async function listAllShards(
  client: KinesisClient,
  stream: string,
  signal?: AbortSignal,
): Promise<Shard[]> {
  const shards: Shard[] = [];
  let token: string | undefined;
  do {
    const res = await client.send(
      new ListShardsCommand(token ? { NextToken: token } : { StreamName: stream }),
      signal ? { abortSignal: signal } : {},
    );
    shards.push(...(res.Shards ?? []));
    token = res.NextToken;
  } while (token);
  return shards;
}

/** A stable code for an SDK or network error: the service's exception name, else the Node error code. */
export function errorCode(err: unknown): string {
  if (err && typeof err === "object") {
    const e = err as { name?: unknown; code?: unknown; $metadata?: { httpStatusCode?: number } };
    if (typeof e.code === "string" && e.code !== "") return e.code;
    const status = e.$metadata?.httpStatusCode;
    if (typeof e.name === "string" && e.name !== "" && e.name !== "Error") {
      return e.name === "UnknownError" && status ? `HTTP${status}` : e.name;
    }
    if (status) return `HTTP${status}`;
  }
  return "error";
}
