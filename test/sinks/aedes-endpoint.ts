import { once } from "node:events";
import { type AddressInfo, createServer, type Server, type Socket } from "node:net";
import { Aedes } from "aedes";
import mqtt, { type MqttClient } from "mqtt";

/**
 * A real aedes broker on 127.0.0.1 whose listener can go away and come back on the same port
 * (an upstream outage), plus a persistent-session subscriber that collects every payload, so
 * messages published while it reconnects are queued by the broker, not lost.
 */
export class AedesEndpoint {
  broker!: Aedes;
  port = 0;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  sub: MqttClient | undefined;
  readonly got: { topic: string; payload: string }[] = [];

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    this.broker = await Aedes.createBroker();
    await this.listen(0);
    return this;
  }

  async listen(port: number): Promise<void> {
    const server = createServer((s) => {
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
      this.broker.handle(s);
    });
    server.listen(port, "127.0.0.1");
    await once(server, "listening");
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  async subscribe(filter = "#"): Promise<void> {
    const sub = mqtt.connect(this.url, { clientId: `sub-${this.port}`, clean: false, reconnectPeriod: 50 });
    sub.on("message", (topic, payload) => this.got.push({ topic, payload: payload.toString("utf8") }));
    sub.on("error", () => {});
    await new Promise((r) => sub.once("connect", r));
    await sub.subscribeAsync(filter, { qos: 1 });
    this.sub = sub;
  }

  /** The listener back on the same port, once the subscriber's session is back too (so what is
   * published next arrives live, in order, not interleaved with the broker's offline queue). */
  async up(): Promise<void> {
    await this.listen(this.port);
    const sub = this.sub;
    if (!sub) return;
    for (let i = 0; i < 500 && !sub.connected; i++) await new Promise((r) => setTimeout(r, 10));
  }

  async down(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    for (const sock of this.sockets) sock.destroy();
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }

  async stop(): Promise<void> {
    await this.sub?.endAsync(true);
    await this.down();
    await new Promise<void>((r) => this.broker.close(() => r()));
  }
}
