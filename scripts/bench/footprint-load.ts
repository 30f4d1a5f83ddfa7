import type { MqttClient } from "mqtt";
import { connectPublishers, publishWindowed } from "../../test/helpers/mqtt-publisher.js";

/** QoS1 devices for the footprint suite: paced at a steady rate, or as fast as the agent takes them. */

const T0 = Date.UTC(2026, 10, 22);
const SENSORS = 50;

let nextSeq = 0;

/** One reading: unique per call within a bench run, ~170 bytes once the agent made it a record. */
function payload(): string {
  const i = nextSeq++;
  return JSON.stringify({
    sensor: `room-${i % SENSORS}/t1`,
    ts: T0 + i * 10,
    seq: i,
    temperature: 20 + (i % 100) / 10,
  });
}

export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

export interface PacedResult {
  sent: number;
  acked: number;
  p50: number;
  p99: number;
}

/**
 * Publishes `rate` readings/s for `seconds`, spread over `clients` connections like separate
 * devices, on a 5 ms tick; `onTick` runs on each tick (the RSS sampler). PUBACK latency is
 * measured from each publish call.
 */
export async function publishPaced(
  port: number,
  rate: number,
  seconds: number,
  onTick: () => void = () => {},
): Promise<PacedResult> {
  const clients = await connectPublishers(port, Math.min(10, rate), `paced-${rate}`);
  const lat: number[] = [];
  let sent = 0;
  try {
    const start = performance.now();
    const end = start + seconds * 1000;
    while (performance.now() < end) {
      const due = Math.floor(((performance.now() - start) / 1000) * rate);
      for (; sent < due; sent++) {
        const c = clients[sent % clients.length]!;
        const t = performance.now();
        c.publish("sensors/bench", payload(), { qos: 1 }, (err) => {
          if (!err) lat.push(performance.now() - t);
        });
      }
      onTick();
      await new Promise((r) => setTimeout(r, 5));
    }
    const until = performance.now() + 10_000;
    while (lat.length < sent && performance.now() < until) await new Promise((r) => setTimeout(r, 10));
  } finally {
    await closeAll(clients);
  }
  lat.sort((a, b) => a - b);
  return { sent, acked: lat.length, p50: percentile(lat, 50), p99: percentile(lat, 99) };
}

/** `total` readings from 4 publishers with 100 QoS1 messages each in flight: the agent's ceiling. */
export async function publishSaturated(port: number, total: number): Promise<void> {
  const clients = await connectPublishers(port, 4, `sat-${nextSeq}`);
  try {
    await publishWindowed(clients, total, 100, "sensors/bench", () => payload());
  } finally {
    await closeAll(clients);
  }
}

async function closeAll(clients: readonly MqttClient[]): Promise<void> {
  await Promise.all(clients.map((c) => c.endAsync(true).catch(() => {})));
}
