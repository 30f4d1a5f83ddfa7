import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import { afterEach, describe, expect, it } from "vitest";
import { validateConfig } from "../../agent/config/load.js";
import type { CanonicalRecord } from "../../agent/record/record.js";
import { startAgent } from "../../agent/runtime.js";
import { unpack } from "../../agent/sinks/firehose/packing.js";
import type { MqttBrokerSource } from "../../agent/sources/mqtt-broker/index.js";
import { silentLogger } from "../../agent/telemetry/logger.js";
import { CREDS } from "../kinesis/helpers.js";
import { waitFor } from "../simulator/broker.js";
import { startFirehoseEndpoint } from "./firehose-endpoint.js";

/** The agent with a `firehose` sink from its config: readings in over MQTT, packed out to Firehose. */

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe("agent with a firehose sink", () => {
  it("loads the sink from config and ships every reading, packed, through record failures", async () => {
    const ep = await startFirehoseEndpoint({ recordFailure: 0.3 }, 5);
    cleanups.push(() => ep.close());
    const dir = mkdtempSync(join(tmpdir(), "edgespool-firehose-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const config = validateConfig({
      agentId: "fh-agent",
      dataDir: dir,
      sources: [{ type: "mqtt-broker", id: "mqtt", port: 0, topics: ["t/#"], sensor: "{topic}" }],
      sinks: [
        {
          type: "firehose",
          id: "firehose",
          deliveryStream: "readings",
          endpoint: ep.endpoint,
          region: "us-east-1",
          ...CREDS,
          maxRecordBytes: "2KiB",
          // Batches of 50 readings, shipped as soon as they are full (200 readings: four of them):
          // how much is packed does not depend on how the commits happen to be timed.
          maxBatchRecords: 50,
          maxBufferAgeMs: "1m",
          retry: { initialMs: 10, maxMs: 100 },
        },
      ],
      http: { enabled: false },
    });
    const handle = await startAgent(config, { log: silentLogger() });
    cleanups.push(() => handle.stop());
    const port = (handle.sources[0] as MqttBrokerSource).port;
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: "fh-pub" });
    // All in flight at once, like a fleet: a sender that waits for each PUBACK gets one reading
    // into each (paced) commit, so 200 of them would take 200 commits.
    await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        c.publishAsync(`t/room${i % 4}`, JSON.stringify({ temperature: 20 + i / 100, seq: i }), { qos: 1 }),
      ),
    );
    await c.endAsync();
    const arrived = () => ep.stored.flatMap((d) => unpack(d)).map((l) => JSON.parse(l) as CanonicalRecord);
    await waitFor(() => new Set(arrived().map((r) => r.id)).size >= 200, 20_000);
    const records = arrived();
    expect(new Set(records.map((r) => r.id)).size).toBe(200);
    expect(records.every((r) => r.agent === "fh-agent" && typeof r.id === "string")).toBe(true);
    // Packed: far fewer Firehose records than readings, and some had to be retried.
    expect(ep.stored.length).toBeLessThan(records.length / 3);
    expect(ep.counts.failedRecords).toBeGreaterThan(0);
  });
});
