import { createConnection, createServer, type Server, type Socket } from "node:net";

/**
 * A TCP pass-through in front of a real server (kinesalite) that can be taken down and brought
 * back on the same port: while down, connections are refused and open ones cut, which is what a
 * client sees when the network or the endpoint goes away. The server behind keeps its state.
 */
export class OutageProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(private readonly targetPort: number) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async up(): Promise<void> {
    const server = createServer((client) => {
      const upstream = createConnection({ host: "127.0.0.1", port: this.targetPort });
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.once("close", () => this.sockets.delete(s));
        s.on("error", () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    this.port = await listenLoopback(server, this.port);
    this.server = server;
  }

  async down(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    await closeCutting(s, this.sockets);
  }
}

/** Listens on 127.0.0.1:`port` (0: a free one) and returns the port actually bound. */
export async function listenLoopback(server: Server, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  return (server.address() as { port: number }).port;
}

/**
 * Closes `server` and destroys its open sockets at once: clients see the endpoint vanish
 * mid-request instead of a graceful drain, which is the outage the tests inject.
 */
export async function closeCutting(server: Server | undefined, sockets: ReadonlySet<Socket>): Promise<void> {
  if (!server) return;
  const closed = new Promise<void>((r) => server.close(() => r()));
  for (const sock of sockets) sock.destroy();
  await closed;
}
