import mqtt, { type MqttClient } from "mqtt";

/**
 * A QoS1 device fleet in miniature: publishes `{"temperature", "seq"}` to one topic per sensor
 * and remembers which sequence numbers the broker acknowledged (PUBACK), which is exactly what
 * the agent must never lose.
 */
export class QosPublisher {
  readonly acked = new Map<string, Set<number>>();
  sent = 0;
  private running = false;
  private loops: Promise<void>[] = [];
  private readonly clients: MqttClient[] = [];

  constructor(
    private readonly url: string,
    private readonly sensors: readonly string[],
    private readonly topic: (sensor: string) => string,
    private readonly opts: { maxInFlight?: number; pauseMs?: number } = {},
  ) {}

  static temperature(seq: number): number {
    return 20 + (seq % 50) / 10;
  }

  get ackedCount(): number {
    let n = 0;
    for (const s of this.acked.values()) n += s.size;
    return n;
  }

  start(): void {
    this.running = true;
    this.loops = this.sensors.map((sensor, i) => {
      const client = mqtt.connect(this.url, {
        clientId: `pub-${i}-${process.pid}`,
        reconnectPeriod: 100,
        connectTimeout: 2000,
      });
      client.on("error", () => {});
      this.clients.push(client);
      const acked = new Set<number>();
      this.acked.set(sensor, acked);
      return this.loop(client, sensor, acked);
    });
  }

  private async loop(client: MqttClient, sensor: string, acked: Set<number>): Promise<void> {
    let seq = 0;
    let inflight = 0;
    const max = this.opts.maxInFlight ?? 16;
    while (this.running) {
      if (inflight >= max || !client.connected) {
        await new Promise((r) => setTimeout(r, 5));
        continue;
      }
      const n = seq++;
      inflight++;
      this.sent++;
      const payload = JSON.stringify({ temperature: QosPublisher.temperature(n), seq: n });
      client.publish(this.topic(sensor), payload, { qos: 1 }, (err) => {
        inflight--;
        if (!err) acked.add(n);
      });
      await new Promise((r) => setTimeout(r, this.opts.pauseMs ?? 0));
    }
  }

  /** Stops publishing and waits a moment for outstanding PUBACKs. */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    await new Promise((r) => setTimeout(r, 300));
    await Promise.all(this.clients.map((c) => c.endAsync(true).catch(() => {})));
  }
}

/** Connects `n` publishers (`${name}-0`…) to the loopback broker on `port`, with no reconnect. */
export async function connectPublishers(port: number, n: number, name: string): Promise<MqttClient[]> {
  return Promise.all(
    Array.from({ length: n }, (_, k) =>
      mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: `${name}-${k}`, reconnectPeriod: 0 }, false),
    ),
  );
}

/**
 * Each client keeps `window` QoS1 messages in flight until it has sent its share of `total`
 * (client k sends messages k·share … k·share+share-1); resolves when all are PUBACKed.
 */
export async function publishWindowed(
  clients: readonly MqttClient[],
  total: number,
  window: number,
  topic: string,
  payload: (i: number) => string,
): Promise<void> {
  const per = Math.ceil(total / clients.length);
  await Promise.all(
    clients.map(async (c, k) => {
      let next = 0;
      const lane = async () => {
        while (next < per) await c.publishAsync(topic, payload(k * per + next++), { qos: 1 });
      };
      await Promise.all(Array.from({ length: window }, lane));
    }),
  );
}
