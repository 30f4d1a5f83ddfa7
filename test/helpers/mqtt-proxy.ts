import { createConnection, createServer, type Server, type Socket } from "node:net";

/** One MQTT control packet seen on the wire: its type (3 PUBLISH, 4 PUBACK, …) and packet id. */
export interface WirePacket {
  type: number;
  qos: number;
  id?: number;
}

/** Splits an MQTT 3.1.1 byte stream into packets, enough to see PUBLISH and PUBACK ids. */
class PacketReader {
  private buf = Buffer.alloc(0);
  constructor(private readonly out: WirePacket[]) {}

  push(chunk: Buffer): void {
    this.buf = Buffer.concat([this.buf, chunk]);
    for (;;) {
      if (this.buf.length < 2) return;
      let len = 0;
      let mul = 1;
      let i = 1;
      for (; i < 5; i++) {
        if (i >= this.buf.length) return;
        const b = this.buf[i]!;
        len += (b & 0x7f) * mul;
        mul *= 128;
        if ((b & 0x80) === 0) break;
      }
      const start = i + 1;
      if (this.buf.length < start + len) return;
      const body = this.buf.subarray(start, start + len);
      const type = this.buf[0]! >> 4;
      const qos = (this.buf[0]! >> 1) & 3;
      const p: WirePacket = { type, qos };
      if (type === 3 && qos > 0) p.id = body.readUInt16BE(2 + body.readUInt16BE(0));
      if (type === 4) p.id = body.readUInt16BE(0);
      this.out.push(p);
      this.buf = this.buf.subarray(start + len);
    }
  }
}

/**
 * A TCP proxy in front of a real broker that records the MQTT packets each way, so a test can
 * see when the client sends its PUBACKs. `cut()` drops every connection at once, like a network
 * failure.
 */
export class MqttWireProxy {
  readonly toBroker: WirePacket[] = [];
  readonly toClient: WirePacket[] = [];
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(private readonly brokerPort: number) {}

  async start(): Promise<void> {
    this.server = createServer((client) => {
      const upstream = createConnection({ host: "127.0.0.1", port: this.brokerPort });
      this.sockets.add(client).add(upstream);
      const up = new PacketReader(this.toBroker);
      const down = new PacketReader(this.toClient);
      client.on("data", (d: Buffer) => {
        up.push(d);
        upstream.write(d);
      });
      upstream.on("data", (d: Buffer) => {
        down.push(d);
        client.write(d);
      });
      const close = () => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on("close", close).on("error", close);
      upstream.on("close", close).on("error", close);
    });
    await new Promise<void>((r) => this.server!.listen(0, "127.0.0.1", () => r()));
    this.port = (this.server.address() as { port: number }).port;
  }

  cut(): void {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}
