import { monitorEventLoopDelay } from "node:perf_hooks";
import type { MqttClient } from "mqtt";
import { afterEach, describe, expect, it } from "vitest";
import { silentLogger } from "../../../agent/telemetry/logger.js";
import { Telemetry } from "../../../agent/telemetry/telemetry.js";
import { RecordingIngest } from "../../helpers/recording-ingest.js";
import { connect, context, GatedIngest, rejectedCount, startBroker } from "./helpers.js";

/**
 * One hostile publisher must not stall the others. Its payloads are ~60 KB digit strings in the
 * temperature or timestamp field with a bad last character, and topics whose level almost fits a
 * template with two variables in one level: inputs on which the old parser backtracked
 * quadratically (1.6 s of blocked event loop per payload). A well-behaved publisher streams QoS1
 * meanwhile; its PUBACK latency and the event-loop delay are measured with and without the
 * hostile traffic in the same run. Only a generous bound on the event-loop delay is asserted
 * (timings vary with the machine's load); the latencies are reported.
 */

const open: { stop(): Promise<void> }[] = [];
const clients: MqttClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
  await Promise.all(open.splice(0).map((s) => s.stop()));
});

const digits = "7".repeat(60_000);
const HOSTILE: [string, string][] = [
  ["sensors/lab-1/temperature", `{"sensor":"h","temperature":"${digits}x"}`],
  ["sensors/lab-1/temperature", `{"sensor":"h","temperature":21,"ts":"${digits}x"}`],
  [`sensors/${"a-".repeat(30_000)}/humidity`, '{"sensor":"h","temperature":21}'],
  ["sensors/lab-1/temperature", `{"sensor":"h","temperature":"${digits}x"}`],
  [`sensors/${"a-".repeat(30_000)}/humidity`, '{"sensor":"h","temperature":21}'],
];

function p99(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * 0.99))]!;
}

/** Publishes `n` QoS1 readings one after another; returns each PUBACK latency in ms. */
async function stream(c: MqttClient, n: number, during?: () => Promise<void>) {
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const side = during?.();
  const lat: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await c.publishAsync("sensors/hall-2/temperature", `{"temperature":${20 + (i % 10) / 10},"seq":${i}}`, {
      qos: 1,
    });
    lat.push(performance.now() - t);
  }
  await side;
  loop.disable();
  return { p99: p99(lat), max: Math.max(...lat), loopMaxMs: loop.max / 1e6 };
}

describe("mqtt-broker under hostile payloads", () => {
  it("keeps other publishers' PUBACKs flowing (linear-time parsing)", async () => {
    const telemetry = new Telemetry(silentLogger());
    const recording = new RecordingIngest();
    const src = await startBroker(context(new GatedIngest(recording, telemetry), telemetry), {
      topics: ["sensors/#"],
      topicTemplate: "sensors/{room}-{spot}/temperature",
    });
    open.push(src);
    const good = await connect(src.port, { clientId: "good" });
    const bad = await connect(src.port, { clientId: "bad" });
    clients.push(good, bad);

    const calm = await stream(good, 400);
    const hostile = await stream(good, 400, async () => {
      for (const [topic, payload] of HOSTILE) {
        await bad.publishAsync(topic, payload, { qos: 0 });
        await new Promise((r) => setTimeout(r, 20));
      }
    });
    console.log(
      `PUBACK p99 ${calm.p99.toFixed(1)} ms without hostile payloads, ${hostile.p99.toFixed(1)} ms with ` +
        `(max ${calm.max.toFixed(0)} / ${hostile.max.toFixed(0)} ms); ` +
        `event loop max delay ${calm.loopMaxMs.toFixed(0)} ms / ${hostile.loopMaxMs.toFixed(0)} ms`,
    );
    // All of them refused for what they are, none of them stored.
    expect(await rejectedCount(telemetry, "wrong-type")).toBe(3);
    expect(await rejectedCount(telemetry, "unknown-topic")).toBe(2);
    expect(recording.readings.every((r) => r.reading.sensor === "hall/2")).toBe(true);
    expect(recording.readings).toHaveLength(800);
    // The old parser blocked the loop for seconds here; a loaded machine may add some hundreds of ms.
    expect(hostile.loopMaxMs).toBeLessThan(Math.max(1000, 4 * calm.loopMaxMs));
  }, 120_000);
});
