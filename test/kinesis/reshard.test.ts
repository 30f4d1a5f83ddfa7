import { rmSync } from "node:fs";
import { join } from "node:path";
import { MergeShardsCommand, SplitShardCommand } from "@aws-sdk/client-kinesis";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { consumeStream } from "../../agent/consume/consumer.js";
import type { OutRecord } from "../../agent/record/record.js";
import { createKinesisSink } from "../../agent/sinks/kinesis/index.js";
import { silentLogger } from "../../agent/telemetry/logger.js";
import { Telemetry } from "../../agent/telemetry/telemetry.js";
import {
  clientWithStream,
  consumedRows,
  CREDS,
  type Kinesalite,
  makeRecords,
  orderViolations,
  readBack,
  ship,
  sinkConfig,
  sinkContext,
  startKinesalite,
  tempDir,
  waitActive,
} from "./helpers.js";

let k: Kinesalite;
let dir: string;
beforeEach(async () => {
  // A resharding that takes a while, like on AWS: the sink keeps shipping through UPDATING.
  k = await startKinesalite({ updateStreamMs: 150 });
  dir = tempDir();
});
afterEach(async () => {
  await k?.close();
  rmSync(dir, { recursive: true, force: true });
});

const HALF = 2n ** 127n;

describe("kinesis resharding while shipping", () => {
  it.each([true, false])(
    "split then merge mid-stream (aggregation=%s): all arrive, per-sensor order holds",
    async (aggregation) => {
      const stream = `reshard-${aggregation}`;
      const c = await clientWithStream(k.endpoint, stream, 2);
      const telemetry = new Telemetry(silentLogger());
      const sink = createKinesisSink(
        // A stale shard map must be detected from the answers, not from a periodic refresh.
        sinkConfig(stream, k.endpoint, { aggregation, shardRefreshMs: "1h" }),
        { ...sinkContext(), telemetry },
      );
      await sink.start();

      const all: OutRecord[] = [];
      let stop = false;
      const shipping = (async () => {
        for (let b = 0; !stop || b < 30; b++) {
          const batch = makeRecords(60, 17, 1 + b * 60);
          all.push(...batch);
          expect((await ship(sink, batch, telemetry)).deadLetters).toEqual([]);
          await new Promise((r) => setTimeout(r, 5));
        }
      })();

      await new Promise((r) => setTimeout(r, 100));
      // shard-0 [0, 2^127) splits into shard-2 [0, 2^126) and shard-3 [2^126, 2^127) ...
      await c.send(
        new SplitShardCommand({
          StreamName: stream,
          ShardToSplit: "shardId-000000000000",
          NewStartingHashKey: (HALF / 2n).toString(),
        }),
      );
      await waitActive(c, stream);
      await new Promise((r) => setTimeout(r, 150));
      // ... then shard-3 and shard-1 [2^127, 2^128) merge into shard-4 [2^126, 2^128).
      await c.send(
        new MergeShardsCommand({
          StreamName: stream,
          ShardToMerge: "shardId-000000000003",
          AdjacentShardToMerge: "shardId-000000000001",
        }),
      );
      await waitActive(c, stream);
      await new Promise((r) => setTimeout(r, 150));
      stop = true;
      await shipping;
      await sink.close();

      // The sink noticed both reshardings from PutRecords answers.
      expect(sink.stats().shardMaps).toBeGreaterThanOrEqual(3);
      expect(sink.stats().misplaced).toBeGreaterThanOrEqual(2);
      const back = await readBack(c, stream);
      expect(back.map((s) => s.shardId).sort()).toEqual(
        [0, 1, 2, 3, 4].map((i) => `shardId-00000000000${i}`),
      );
      // Every shard, including the children, received records.
      for (const s of back) expect(s.kinesisRecords).toBeGreaterThan(0);

      const db = join(dir, "consumer.db");
      const stats = await consumeStream({ stream, endpoint: k.endpoint, region: "us-east-1", ...CREDS, db });
      const rows = consumedRows(db);
      expect(rows.length).toBe(all.length);
      expect(new Set(rows.map((r) => r.id)).size).toBe(all.length);
      expect(stats.shardsEnded).toBeGreaterThanOrEqual(3);
      expect(orderViolations(rows)).toEqual([]);
      c.destroy();
    },
  );
});
