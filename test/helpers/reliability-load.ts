import mqtt, { type MqttClient } from "mqtt";
import { contentId } from "../../agent/record/ids.js";
import type { FaultRates } from "../../simulator/faults.js";
import { createFleet, type Fleet, type FleetEvent } from "../../simulator/fleet.js";
import { toBuffer } from "../../simulator/outputs/output.js";
import { waitFor as basicsWaitFor } from "./basics.js";

/**
 * Steady QoS1 load from the simulator library, published with mqtt.js so every PUBACK is seen:
 * the torture tests need to know exactly which readings the agent acknowledged. The fleet makes
 * the payloads (canonical JSON with device ts and seq, so the agent derives content ids); each
 * device always publishes on the same connection, so its order holds across reconnects.
 */

export interface LoadOptions {
  port: number;
  rooms?: number;
  /** Target publish rate over all clients, messages per second. */
  ratePerSec?: number;
  clients?: number;
  /** Unacknowledged publishes per client before it waits. */
  window?: number;
  seed?: number;
  clientIdPrefix?: string;
  /** Simulator faults (malformed, oversize, duplicate, reorder, …); none by default. */
  faults?: Partial<FaultRates>;
}

export interface AckedReading {
  id: string;
  sensor: string;
  deviceSeq: number;
}

type Message = Extract<FleetEvent, { kind: "message" }>;

/** The id the agent derives for a canonical simulator payload (sensor, device ts, device seq, value). */
export function expectedId(m: Message): string {
  const t = m.truth;
  return contentId({ sensor: t.sensor, temperature: t.temperature, deviceTs: t.ts, deviceSeq: t.seq })!;
}

export class FleetLoad {
  readonly acked = new Map<string, AckedReading>();
  sent = 0;
  errors = 0;
  private readonly fleet: Fleet;
  private readonly clients: MqttClient[] = [];
  private readonly inflight: number[] = [];
  private running = false;
  private loop: Promise<void> | undefined;
  private paused = false;
  private readonly o: Required<LoadOptions>;

  constructor(opts: LoadOptions) {
    this.o = {
      rooms: 8,
      ratePerSec: 1000,
      clients: 4,
      window: 64,
      seed: 7,
      clientIdPrefix: `rl${process.pid}`,
      faults: {},
      ...opts,
    };
    // One reading per device per simulated second; simulated time is advanced by the pacing below.
    this.fleet = createFleet({
      seed: this.o.seed,
      start: Date.UTC(2026, 10, 22, 0, 0, 0),
      rooms: this.o.rooms,
      sensorsPerRoom: 1,
      intervalMs: 1000,
      format: "canonical",
      faults: this.o.faults,
    });
  }

  start(): void {
    for (let c = 0; c < this.o.clients; c++) {
      const client = mqtt.connect(`mqtt://127.0.0.1:${this.o.port}`, {
        clientId: `${this.o.clientIdPrefix}-${c}`,
        reconnectPeriod: 100,
        connectTimeout: 2000,
        protocolVersion: 4,
      });
      client.on("error", () => this.errors++);
      this.clients.push(client);
      this.inflight.push(0);
    }
    this.running = true;
    this.loop = this.run();
  }

  /** Stops generating; waits (bounded) for outstanding PUBACKs, then disconnects. */
  async stop(settleMs = 3000): Promise<void> {
    this.running = false;
    await this.loop;
    const until = Date.now() + settleMs;
    while (this.inflight.some((n) => n > 0) && Date.now() < until) await sleep(20);
    await Promise.all(this.clients.map((c) => c.endAsync(true).catch(() => undefined)));
  }

  /** Holds publishing (e.g. while the test changes the disk) without closing connections. */
  pause(on: boolean): void {
    this.paused = on;
  }

  get outstanding(): number {
    return this.inflight.reduce((a, b) => a + b, 0);
  }

  private async run(): Promise<void> {
    const perDevicePeriodMs = (this.o.rooms * 1000) / this.o.ratePerSec;
    const started = Date.now();
    let backlog: Message[] = [];
    while (this.running) {
      if (this.paused) {
        await sleep(20);
        continue;
      }
      if (backlog.length === 0) {
        // Simulated seconds elapsed so far at the target rate.
        const simMs = ((Date.now() - started) / perDevicePeriodMs) * 1000;
        const evs = this.fleet.advance(this.fleet.options.start + simMs, this.o.rooms * 4);
        backlog = evs.filter((e): e is Message => e.kind === "message");
        if (backlog.length === 0) {
          await sleep(5);
          continue;
        }
      }
      const m = backlog[0]!;
      const c = m.device.index % this.clients.length;
      const client = this.clients[c]!;
      if (!client.connected || this.inflight[c]! >= this.o.window) {
        await sleep(2);
        continue;
      }
      backlog.shift();
      this.publish(client, c, m);
      if (this.sent % 32 === 0) await new Promise((r) => setImmediate(r));
    }
  }

  private publish(client: MqttClient, c: number, m: Message): void {
    const id = expectedId(m);
    const topic = `sensors/${m.truth.room}/${m.device.sensor}`;
    this.inflight[c]!++;
    this.sent++;
    client.publish(topic, toBuffer(m.payload), { qos: 1 }, (err) => {
      this.inflight[c]!--;
      if (!err) this.acked.set(id, { id, sensor: m.truth.sensor, deviceSeq: m.truth.seq });
    });
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The shared `waitFor`, polling every 200 ms: the torture tests' conditions scrape /metrics. */
export function waitFor(
  cond: () => Promise<boolean> | boolean,
  timeoutMs: number,
  everyMs = 200,
): Promise<boolean> {
  return basicsWaitFor(cond, timeoutMs, everyMs);
}
