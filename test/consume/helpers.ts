import type { AddressInfo } from "node:net";
import { type DynamoDBClient, ScanCommand } from "@aws-sdk/client-dynamodb";
import dynalite from "dynalite";
import { createDynamoClient } from "../../agent/consume/dynamo.js";
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
