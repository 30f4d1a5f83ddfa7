import { readFileSync } from "node:fs";
import { connect as netConnect } from "node:net";
import mqtt, { type MqttClient } from "mqtt";
import { afterEach, describe, expect, it } from "vitest";
import { createIngest, type IngestQueue } from "../../../agent/pipeline/ingest.js";
import { decodeRecord } from "../../../agent/record/record.js";
import type { SpoolApi } from "../../../agent/spool/index.js";
import { silentLogger } from "../../../agent/telemetry/logger.js";
import { Telemetry } from "../../../agent/telemetry/telemetry.js";
import { tempDir } from "../../helpers/agent-process.js";
import { haveTool } from "../../helpers/tools.js";
import { makePki } from "../../helpers/tls-certs.js";
import { connect, context, rejectedCount, startBroker } from "./helpers.js";
import { openTestSpool } from "../../helpers/spool-ingest.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function realIngest(commitDelayMs = 0): { spool: SpoolApi; ingest: IngestQueue; telemetry: Telemetry } {
  const telemetry = new Telemetry(silentLogger());
  const { spool } = openTestSpool({ telemetry });
  spool.setSinks(["out"]);
  const ingest = createIngest(spool, telemetry, { agentId: "t", maxCommitRecords: 5000, commitDelayMs });
  cleanups.push(() => spool.close());
  cleanups.push(() => ingest.close());
  return { spool, ingest, telemetry };
}

describe("mqtt-broker into the real spool", () => {
  it("every acknowledged message is in the spool, redeliveries stored once, rejects counted", async () => {
    const { spool, ingest, telemetry } = realIngest();
    const src = await startBroker(context(ingest, telemetry), { topicTemplate: "sensors/{room}/{sensor}" });
    cleanups.push(() => src.stop());
    const clients: MqttClient[] = await Promise.all([0, 1, 2].map(() => connect(src.port)));
    cleanups.push(async () => {
      await Promise.all(clients.map((c) => c.endAsync(true)));
    });
    const perClient = 200;
    await Promise.all(
      clients.map((c, k) =>
        Promise.all(
          Array.from({ length: perClient }, (_, i) =>
            c.publishAsync(
              `sensors/room${k}/t${i % 4}`,
              JSON.stringify({ temperature: 20 + (i % 10), seq: i, n: i }),
              {
                qos: 1,
              },
            ),
          ),
        ),
      ),
    );
    // The same device message again (a QoS1 redelivery): same content id, stored once.
    await clients[0]!.publishAsync("sensors/room0/t0", JSON.stringify({ temperature: 20, seq: 0 }), {
      qos: 1,
    });
    await clients[1]!.publishAsync("sensors/room1/t0", "not json", { qos: 1 });

    const rows = spool.read(0, 10_000);
    expect(rows).toHaveLength(3 * perClient);
    expect(new Set(rows.map((r) => r.id)).size).toBe(3 * perClient);
    const first = decodeRecord(rows.find((r) => r.sensor === "room2/t3")!.body);
    expect(first).toMatchObject({ sensor: "room2/t3", source: "broker", agent: "t" });
    // Per-sensor order in the spool follows each client's publish order.
    for (let k = 0; k < 3; k++) {
      const ns = rows
        .filter((r) => r.sensor === `room${k}/t1`)
        .map((r) => decodeRecord(r.body).attrs?.n as number);
      expect(ns).toEqual(Array.from({ length: perClient / 4 }, (_, j) => 4 * j + 1));
    }
    expect(await rejectedCount(telemetry, "invalid-json")).toBe(1);
    const dup = await telemetry.duplicates.get();
    expect(dup.values[0]?.value).toBe(1);
  });

  it.skipIf(!haveTool("openssl", "the broker TLS test"))(
    "serves MQTT over TLS with a certificate made at test time",
    async () => {
      const pki = makePki(tempDir(), "site");
      const server = pki.issue("server", "/CN=localhost", "IP:127.0.0.1,DNS:localhost");
      const { spool, ingest, telemetry } = realIngest();
      const src = await startBroker(context(ingest, telemetry), { tls: server });
      cleanups.push(() => src.stop());
      const c = await mqtt.connectAsync(`mqtts://127.0.0.1:${src.port}`, {
        ca: readFileSync(pki.caFile),
        reconnectPeriod: 0,
        connectTimeout: 5000,
      });
      cleanups.push(async () => {
        await c.endAsync(true);
      });
      await c.publishAsync("t/a", '{"sensor":"tls","temperature":21.5}', { qos: 1 });
      const rows = spool.read(0, 10);
      expect(rows.map((r) => r.sensor)).toEqual(["tls"]);
      // A plain-TCP client cannot talk to the TLS listener.
      await expect(connect(src.port, { connectTimeout: 1000 })).rejects.toThrow();
      // A socket stuck before its handshake must not hold stop() up.
      const idle = netConnect(src.port, "127.0.0.1");
      idle.on("error", () => undefined);
      await new Promise((resolve) => idle.once("connect", resolve));
      await src.stop();
      expect(idle.destroyed || (await new Promise((r) => idle.once("close", () => r(true))))).toBe(true);
    },
  );

  it("passes the client id as the sender, so one client waiting for each PUBACK is not held by commit pacing", async () => {
    // An hour-long delay: a single commit held for company would never be acknowledged here.
    const { spool, ingest, telemetry } = realIngest(3_600_000);
    const senders = new Set<string | undefined>();
    const watched: IngestQueue = Object.create(ingest) as IngestQueue;
    watched.submit = (source, readings, sender) => {
      senders.add(sender);
      return ingest.submit(source, readings, sender);
    };
    const src = await startBroker(context(watched, telemetry), { topicTemplate: "sensors/{room}/{sensor}" });
    cleanups.push(() => src.stop());
    const c = await connect(src.port, { clientId: "lone-device" });
    cleanups.push(() => c.endAsync(true));
    for (let i = 0; i < 30; i++)
      await c.publishAsync("sensors/r/t", JSON.stringify({ temperature: 20, seq: i }), { qos: 1 });
    expect(spool.stats().records).toBe(30);
    expect([...senders]).toEqual(["lone-device"]);
  });
});
