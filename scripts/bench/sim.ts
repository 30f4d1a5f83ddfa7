import { Worker } from "node:worker_threads";
import mqtt, { type MqttClient } from "mqtt";
import { createFleet } from "../../simulator/fleet.js";
import { createMqttOutput } from "../../simulator/outputs/mqtt.js";
import { runFleet } from "../../simulator/run.js";
import type { Bench, BenchRow } from "./types.js";

/**
 * The fleet simulator's aggregate publish rate into a local aedes broker (10,000 sensors,
 * shared connections, as fast as the broker takes them), against a trivial mqtt.js publisher
 * loop with the same connections, QoS and in-flight window: the ratio is what physics, faults
 * and encoding cost on top of the raw relay. The broker runs in a worker thread (its own core).
 */

const SENSORS = 10_000;
const CONNECTIONS = 8;
const WINDOW = 2000;

/** A broker in a worker thread; `received()` asks it how many publishes it got from clients. */
async function startBroker(): Promise<{
  url: string;
  received: () => Promise<number>;
  close: () => Promise<void>;
}> {
  const worker = new Worker(new URL("./sim-broker.js", import.meta.url));
  const reply = <T>(key: string) =>
    new Promise<T>((resolve) => {
      const on = (m: Record<string, T>) => {
        if (key in m) {
          worker.off("message", on);
          resolve(m[key]!);
        }
      };
      worker.on("message", on);
    });
  const port = await reply<number>("port");
  return {
    url: `mqtt://127.0.0.1:${port}`,
    received: () => {
      const r = reply<number>("count");
      worker.postMessage("count");
      return r;
    },
    close: async () => {
      const r = reply<boolean>("closed");
      worker.postMessage("close");
      await r;
      await worker.terminate();
    },
  };
}

function peakRss(): { stop: () => number } {
  let peak = process.memoryUsage().rss;
  const t = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 100);
  return {
    stop: () => {
      clearInterval(t);
      return peak / 2 ** 20;
    },
  };
}

/** Messages the broker received per second over `seconds`, after a one-second warm-up. */
async function measure(
  received: () => Promise<number>,
  seconds: number,
  drive: (signal: AbortSignal) => Promise<void>,
): Promise<number> {
  const ac = new AbortController();
  const running = drive(ac.signal);
  await new Promise((r) => setTimeout(r, 1000));
  const n0 = await received();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const rate = (((await received()) - n0) * 1000) / (performance.now() - t0);
  ac.abort();
  await running;
  return rate;
}

async function simRate(qos: 0 | 1, seconds: number): Promise<{ rate: number; rss: number }> {
  const broker = await startBroker();
  const rss = peakRss();
  try {
    const fleet = createFleet({ seed: 1, start: Date.UTC(2026, 0, 15), rooms: SENSORS, intervalMs: 10_000 });
    const out = createMqttOutput({
      url: broker.url,
      topic: "sensors/{room}/{sensor}/temperature",
      qos,
      clients: CONNECTIONS,
      devices: fleet.devices,
      window: WINDOW,
      clientIdPrefix: "bench-sim",
    });
    await out.open();
    const rate = await measure(broker.received, seconds, async (signal) => {
      await runFleet(fleet, out, { speed: Number.POSITIVE_INFINITY, signal });
    });
    await out.close();
    return { rate, rss: rss.stop() };
  } finally {
    await broker.close();
  }
}

async function rawRate(qos: 0 | 1, seconds: number): Promise<number> {
  const broker = await startBroker();
  const clients: MqttClient[] = await Promise.all(
    Array.from({ length: CONNECTIONS }, (_, i) =>
      mqtt.connectAsync(broker.url, { clientId: `bench-raw-${i}`, reconnectPeriod: 0 }),
    ),
  );
  const payload = Buffer.from('{"sensor":"room-00001/t1","ts":1768435200000,"seq":1,"temperature":21.5625}');
  try {
    return await measure(broker.received, seconds, async (signal) => {
      let outstanding = 0;
      let wake: (() => void) | undefined;
      const done = () => {
        outstanding--;
        if (wake && outstanding <= WINDOW / 2) {
          const w = wake;
          wake = undefined;
          w();
        }
      };
      for (let i = 0; !signal.aborted; i++) {
        outstanding++;
        clients[i % CONNECTIONS]!.publish(
          `sensors/room-${i % SENSORS}/t1/temperature`,
          payload,
          { qos },
          done,
        );
        if (outstanding >= WINDOW) await new Promise<void>((r) => (wake = r));
        else if (i % 2000 === 0) await new Promise((r) => setImmediate(r));
      }
      while (outstanding > 0) await new Promise((r) => setTimeout(r, 10));
    });
  } finally {
    await Promise.all(clients.map((c) => c.endAsync(true)));
    await broker.close();
  }
}

export const run: Bench = async ({ quick }) => {
  const seconds = quick ? 2 : 6;
  const rows: BenchRow[] = [];
  for (const qos of [0, 1] as const) {
    const baseline = await rawRate(qos, seconds);
    const sim = await simRate(qos, seconds);
    rows.push({
      name: `sim → aedes, ${SENSORS.toLocaleString("en-US")} sensors, ${CONNECTIONS} connections, QoS ${qos}`,
      value: sim.rate,
      unit: "msgs/s",
      baselineName: "mqtt.js publish loop → aedes",
      baseline,
      ratio: sim.rate / baseline,
      target: ">= 20,000 msgs/s",
      peakRssMiB: sim.rss,
    });
  }
  return rows;
};
