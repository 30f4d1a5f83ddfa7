import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import type { Reading } from "../../../agent/record/record.js";
import { mqttBrokerSourceSchema } from "../../../agent/sources/mqtt-broker/config.js";
import { createMqttBrokerSource, type MqttBrokerSource } from "../../../agent/sources/mqtt-broker/index.js";
import type { Ingest, IngestOutcome, SourceContext } from "../../../agent/sources/source.js";
import { silentLogger } from "../../../agent/telemetry/logger.js";
import { Telemetry } from "../../../agent/telemetry/telemetry.js";

/**
 * A fault-injecting wrapper in front of a real Ingest: it can hold every submission until the
 * test releases it (to prove PUBACK waits for the commit), or resolve out of order (to prove the
 * broker keeps acks in publish order anyway). Rejects go to the telemetry counters.
 */
export class GatedIngest implements Ingest {
  held = false;
  shuffle = false;
  private waiting: (() => void)[] = [];
  readonly submitted: Reading[] = [];
  readonly committed: Reading[] = [];

  constructor(
    private readonly inner: Ingest,
    private readonly telemetry: Telemetry,
  ) {}

  submit(source: string, readings: readonly Reading[]): Promise<IngestOutcome> {
    this.submitted.push(...readings);
    const run = () =>
      this.inner.submit(source, readings).then((o) => {
        this.committed.push(...readings);
        return o;
      });
    if (!this.held && !this.shuffle) return run();
    return new Promise<void>((resolve) => {
      if (this.held) this.waiting.push(resolve);
      else setTimeout(resolve, Math.floor(Math.random() * 20));
    }).then(run);
  }

  reject(source: string, reason: string, detail?: string): void {
    this.telemetry.reject(source, reason, detail);
    this.inner.reject(source, reason, detail);
  }

  release(): void {
    this.held = false;
    for (const w of this.waiting.splice(0)) w();
  }

  get waitingCount(): number {
    return this.waiting.length;
  }
}

/** Accepts everything at once, as a stand-in for a spool that commits instantly. */
export class InstantIngest implements Ingest {
  async submit(_source: string, readings: readonly Reading[]): Promise<IngestOutcome> {
    return { stored: readings.length, duplicates: 0, dropped: 0 };
  }
  reject(): void {}
}

export function context(ingest: Ingest, telemetry = new Telemetry(silentLogger())): SourceContext {
  return { agentId: "test-agent", dataDir: "/nonexistent", ingest, log: silentLogger(), telemetry };
}

export async function startBroker(
  ctx: SourceContext,
  overrides: Record<string, unknown> = {},
): Promise<MqttBrokerSource> {
  const cfg = mqttBrokerSourceSchema.parse({
    type: "mqtt-broker",
    id: "broker",
    host: "127.0.0.1",
    port: 0,
    ...overrides,
  });
  const src = createMqttBrokerSource(cfg, ctx);
  await src.start();
  return src;
}

export function connect(port: number, opts: IClientOptions = {}): Promise<MqttClient> {
  return mqtt.connectAsync(
    `mqtt://127.0.0.1:${port}`,
    { reconnectPeriod: 0, connectTimeout: 5000, ...opts },
    false,
  );
}

/** Current value of edgespool_rejected_total for one reason. */
export async function rejectedCount(telemetry: Telemetry, reason: string): Promise<number> {
  const m = await telemetry.rejected.get();
  return m.values.filter((v) => v.labels.reason === reason).reduce((a, v) => a + v.value, 0);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Current value of edgespool_broker_refused_total for one reason (0 before the first refusal). */
export async function refusedCount(telemetry: Telemetry, reason: string): Promise<number> {
  const metric = telemetry.registry.getSingleMetric("edgespool_broker_refused_total");
  if (metric === undefined) return 0;
  const m = await metric.get();
  return m.values.filter((v) => v.labels.reason === reason).reduce((a, v) => a + v.value, 0);
}

/** The SUBACK return codes for each filter (mqtt.js rejects when any is 0x80; the packet is on the error). */
export async function suback(c: MqttClient, subs: Record<string, { qos: 0 | 1 }>): Promise<number[]> {
  try {
    return (await c.subscribeAsync(subs)).map((g) => g.qos);
  } catch (err) {
    const granted = (err as { packet?: { granted?: number[] } }).packet?.granted;
    if (granted === undefined) throw err;
    return granted;
  }
}
