import { mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type DynamoDBClient, ScanCommand } from "@aws-sdk/client-dynamodb";
import dynalite from "dynalite";
import { createDynamoClient } from "../../agent/consume/dynamo.js";
import { validateConfig } from "../../agent/config/load.js";
import { type AgentHandle, startAgent } from "../../agent/runtime.js";
import type { MqttBrokerSource } from "../../agent/sources/mqtt-broker/index.js";
import { silentLogger } from "../../agent/telemetry/logger.js";
import { roomsToKinesisConfig } from "../kinesis/agent-config.js";
import { CREDS } from "../kinesis/helpers.js";

export interface Dynalite {
  endpoint: string;
  close(): Promise<void>;
}

/** A real dynalite in this process, in memory, on 127.0.0.1 and a free port; tables are ACTIVE at once. */
export async function startDynalite(): Promise<Dynalite> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((res) => server.listen(0, "127.0.0.1", () => res()));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((res) => {
        server.closeAllConnections();
        server.close(() => res());
      }),
  };
}

export function ddbClient(endpoint: string): DynamoDBClient {
  return createDynamoClient({ endpoint, region: "us-east-1", ...CREDS });
}

/** Every item's `id` in a table (duplicates impossible by key, so this also counts items). */
export async function tableIds(c: DynamoDBClient, table: string): Promise<string[]> {
  const ids: string[] = [];
  let start: Record<string, import("@aws-sdk/client-dynamodb").AttributeValue> | undefined;
  do {
    const res = await c.send(new ScanCommand({ TableName: table, ExclusiveStartKey: start }));
    for (const it of res.Items ?? []) ids.push(it.id!.S!);
    start = res.LastEvaluatedKey;
  } while (start);
  return ids;
}

/** An agent in this process (own agentId and spool) with an embedded broker, shipping to `stream`. */
export async function houseAgent(
  i: number,
  kinesisEndpoint: string,
  stream: string,
  cleanups: (() => Promise<void> | void)[],
): Promise<{ handle: AgentHandle; port: number }> {
  const dir = mkdtempSync(join(tmpdir(), `edgespool-fleet-${i}-`));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const config = validateConfig(
    roomsToKinesisConfig({
      agentId: `house-${i}`,
      dataDir: join(dir, "spool"),
      port: 0,
      stream,
      endpoint: kinesisEndpoint,
      sink: { maxBatchRecords: 500, shardRefreshMs: 1000 },
    }),
  );
  const handle = await startAgent(config, { log: silentLogger() });
  cleanups.push(() => handle.stop());
  return { handle, port: (handle.sources[0] as MqttBrokerSource).port };
}
