import { connect as netConnect, type Socket } from "node:net";
import fc from "fast-check";
import { generate, parser as packetParser } from "mqtt-packet";
import { afterEach, describe, expect, it } from "vitest";
import type { MqttBrokerSource } from "../../../agent/sources/mqtt-broker/index.js";
import { silentLogger } from "../../../agent/telemetry/logger.js";
import { Telemetry } from "../../../agent/telemetry/telemetry.js";
import { RecordingIngest, waitFor } from "../../helpers/recording-ingest.js";
import { context, GatedIngest, rejectedCount, startBroker } from "./helpers.js";

/**
 * The maxPacketSize guard rewrites the byte stream of a client (it discards oversized PUBLISH
 * bodies), so it must hold framing at any TCP chunk boundary. A raw socket sends a random mix of
 * small and oversized QoS1 publishes, cut into random chunks; every one must be acked in order.
 */

const MAX = 512;
const stops: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const s of stops.splice(0)) await s();
});

function rawClient(port: number): Promise<{ socket: Socket; acks: number[] }> {
  return new Promise((resolve, reject) => {
    const acks: number[] = [];
    const socket = netConnect(port, "127.0.0.1", () => resolve({ socket, acks }));
    socket.setNoDelay(true);
    socket.on("error", reject);
    const p = packetParser({ protocolVersion: 4 });
    p.on("packet", (pkt) => {
      if (pkt.cmd === "puback" && pkt.messageId !== undefined) acks.push(pkt.messageId);
    });
    socket.on("data", (d) => p.parse(d));
  });
}

describe("maxPacketSize framing", () => {
  it("acks every publish in order whatever the chunking, storing only the small ones", async () => {
    const telemetry = new Telemetry(silentLogger());
    const recording = new RecordingIngest();
    const src: MqttBrokerSource = await startBroker(
      context(new GatedIngest(recording, telemetry), telemetry),
      {
        maxPacketSize: MAX,
      },
    );
    stops.push(() => src.stop());
    let run = 0;
    let expectedBig = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(fc.constant(0), fc.integer({ min: MAX + 1, max: 40_000 })), {
          minLength: 1,
          maxLength: 12,
        }),
        fc.array(fc.integer({ min: 1, max: 3000 }), { minLength: 1, maxLength: 40 }),
        async (sizes, cuts) => {
          run++;
          const { socket, acks } = await rawClient(src.port);
          const before = recording.readings.length;
          const parts: Buffer[] = [
            generate({
              cmd: "connect",
              protocolId: "MQTT",
              protocolVersion: 4,
              clean: true,
              clientId: `raw-${run}`,
              keepalive: 0,
            }),
          ];
          sizes.forEach((size, i) => {
            const payload =
              size === 0 ? Buffer.from(`{"sensor":"r${run}","temperature":${i}}`) : Buffer.alloc(size, 0x61);
            if (size > 0) expectedBig++;
            parts.push(
              generate({
                cmd: "publish",
                topic: `t/${i}`,
                payload,
                qos: 1,
                messageId: i + 1,
                retain: false,
                dup: false,
              }),
            );
          });
          const stream = Buffer.concat(parts);
          let at = 0;
          for (let k = 0; at < stream.length; k++) {
            const n = cuts[k % cuts.length]!;
            socket.write(stream.subarray(at, at + n));
            at += n;
            await new Promise((r) => setImmediate(r));
          }
          const done = await waitFor(() => acks.length === sizes.length, 5000);
          socket.destroy();
          expect(done).toBe(true);
          expect(acks).toEqual(sizes.map((_, i) => i + 1));
          const temps = recording.readings.slice(before).map((r) => r.reading.temperature);
          expect(temps).toEqual(sizes.flatMap((s, i) => (s === 0 ? [i] : [])));
        },
      ),
      { numRuns: 25 },
    );
    expect(await rejectedCount(telemetry, "too-large")).toBe(expectedBig);
  });
});
