import {
  type AttributeValue,
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  PutItemCommand,
} from "@aws-sdk/client-dynamodb";
import { backoffDelay, sleep } from "../backoff.js";
import { awsClientConfig, errorCode, type KinesisEndpoint } from "../sinks/kinesis/client.js";
import type { StoredReading } from "./store.js";

/** A DynamoDB client configured like the Kinesis one (see awsClientConfig). */
export function createDynamoClient(o: KinesisEndpoint): DynamoDBClient {
  return new DynamoDBClient(awsClientConfig(o, "dynamodb"));
}

/** DynamoDB's answers to "too fast": each is retried after a backoff, never counted as a failure. */
export const THROTTLE_CODES = new Set([
  "ProvisionedThroughputExceededException",
  "ThrottlingException",
  "RequestLimitExceeded",
]);

/** Creates a table with a string partition key `key` when missing (on demand), and waits for ACTIVE. */
export async function ensureTable(
  ddb: DynamoDBClient,
  name: string,
  key: string,
  signal?: AbortSignal,
): Promise<void> {
  const describe = async () => {
    try {
      const d = await ddb.send(new DescribeTableCommand({ TableName: name }));
      return d.Table?.TableStatus;
    } catch (err) {
      if (errorCode(err) === "ResourceNotFoundException") return undefined;
      throw err;
    }
  };
  if ((await describe()) === undefined) {
    try {
      await ddb.send(
        new CreateTableCommand({
          TableName: name,
          AttributeDefinitions: [{ AttributeName: key, AttributeType: "S" }],
          KeySchema: [{ AttributeName: key, KeyType: "HASH" }],
          BillingMode: "PAY_PER_REQUEST",
        }),
      );
    } catch (err) {
      // Another worker created it first: fine, wait for it like for our own.
      if (errorCode(err) !== "ResourceInUseException") throw err;
    }
  }
  for (let i = 0; ; i++) {
    if ((await describe()) === "ACTIVE") return;
    if (signal?.aborted) throw new Error(`dynamodb table ${name}: aborted while waiting for ACTIVE`);
    if (i > 600) throw new Error(`dynamodb table ${name} did not become ACTIVE`);
    await sleep(Math.min(1000, 20 * 2 ** i), signal);
  }
}

export interface TableWriteStats {
  /** PutItem calls, throttled ones included. */
  calls: number;
  throttled: number;
}

/**
 * The tutorial's table: one item per reading, partition key `id`. Every item is written with
 * PutItem conditional on `attribute_not_exists(id)`, so a reading delivered again (a retried
 * page, a resharding copy, a worker that died after writing but before its checkpoint) is
 * refused by DynamoDB rather than written twice. BatchWriteItem cannot carry conditions, so
 * puts run concurrently instead, at most `concurrency` at a time; throttled puts back off and
 * are retried alone.
 */
export class DynamoReadings {
  readonly stats: TableWriteStats = { calls: 0, throttled: 0 };

  constructor(
    private readonly ddb: DynamoDBClient,
    readonly table: string,
    private readonly concurrency = 16,
  ) {}

  ensure(signal?: AbortSignal): Promise<void> {
    return ensureTable(this.ddb, this.table, "id", signal);
  }

  /** Writes the readings; resolves with how many were new (the rest already existed). */
  async write(shardId: string, readings: readonly StoredReading[], signal?: AbortSignal): Promise<number> {
    let next = 0;
    let stored = 0;
    const worker = async () => {
      while (next < readings.length) {
        const r = readings[next++]!;
        if (await this.putOnce(item(r, shardId), signal)) stored++;
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, readings.length) }, worker));
    return stored;
  }

  /** True when written, false when the id was already there; throws on any other failure. */
  private async putOnce(Item: Record<string, AttributeValue>, signal?: AbortSignal): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      this.stats.calls++;
      try {
        await this.ddb.send(
          new PutItemCommand({
            TableName: this.table,
            Item,
            ConditionExpression: "attribute_not_exists(id)",
          }),
          signal ? { abortSignal: signal } : {},
        );
        return true;
      } catch (err) {
        const code = errorCode(err);
        if (code === "ConditionalCheckFailedException") return false;
        if (!THROTTLE_CODES.has(code) || signal?.aborted) throw err;
        this.stats.throttled++;
        await sleep(backoffDelay(attempt, { initialMs: 50, maxMs: 5_000 }), signal);
      }
    }
  }
}

/** A reading as a DynamoDB item: typed columns to query on, and the record exactly as shipped. */
export function item(r: StoredReading, shardId: string): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {
    id: { S: r.id },
    sensor: { S: r.sensor },
    shard: { S: shardId },
    body: { S: r.body },
  };
  if (r.ts !== null) out.ts = { S: r.ts };
  if (r.temperature !== null) out.temperature = { N: String(r.temperature) };
  if (r.humidity !== null) out.humidity = { N: String(r.humidity) };
  if (r.seq !== null) out.seq = { N: String(r.seq) };
  return out;
}
