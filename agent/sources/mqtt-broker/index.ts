import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { createServer, type Server, type Socket } from "node:net";
import { createServer as createTlsServer } from "node:tls";
import { Aedes } from "aedes";
import type { Source, SourceContext } from "../source.js";
import type { MqttBrokerSourceConfig } from "./config.js";
import { Acl, limitPacketSize, OversizeMarks, passwordAuth } from "./guard.js";
import { publishHooks } from "./publish.js";

/**
 * The embedded MQTT broker (DESIGN §5): devices publish straight to the agent, and their PUBACK
 * is sent only once the reading is committed in the spool (see publish.ts for the ordering).
 *
 * `port: 0` binds a free port; after `start()` resolves, `source.port` is the bound port (tests
 * read it from there) and the "mqtt broker listening" log line carries it too.
 */

export interface MqttBrokerSource extends Source {
  /** The bound TCP port; valid after start() resolved. */
  readonly port: number;
}

/** PEM text, or a path to a PEM file. */
function pem(value: string): string {
  return value.includes("-----BEGIN") ? value : readFileSync(value, "utf8");
}

class BrokerSource implements MqttBrokerSource {
  readonly type = "mqtt-broker";
  private broker: Aedes | undefined;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private boundPort = 0;
  private stopping: Promise<void> | undefined;

  constructor(
    private readonly cfg: MqttBrokerSourceConfig,
    private readonly ctx: SourceContext,
  ) {
    // Compile the parser and templates now, so a bad template fails at config time, not at start.
    publishHooks(cfg, ctx.ingest);
  }

  get id(): string {
    return this.cfg.id;
  }

  get port(): number {
    return this.boundPort;
  }

  async start(): Promise<void> {
    if (this.server !== undefined) return;
    const { cfg, ctx } = this;
    const marks = new OversizeMarks();
    const acl = new Acl();
    const hooks = publishHooks(cfg, ctx.ingest, marks, acl);
    const broker = new Aedes({
      ...hooks,
      ...(cfg.auth === undefined
        ? {}
        : {
            authenticate: passwordAuth(Array.isArray(cfg.auth) ? cfg.auth : [cfg.auth], acl, (clientId) =>
              ctx.telemetry.warnLimited(
                `auth:${cfg.id}`,
                { source: cfg.id, clientId },
                "mqtt client refused: bad credentials",
              ),
            ),
          }),
    });
    await broker.listen();
    broker.on("clientError", (client, err) => {
      ctx.telemetry.warnLimited(
        `clienterr:${cfg.id}`,
        { source: cfg.id, clientId: client.id, err: err.message },
        "mqtt client error",
      );
    });
    broker.on("connectionError", (_client, err) => {
      ctx.telemetry.warnLimited(
        `connerr:${cfg.id}`,
        { source: cfg.id, err: err.message },
        "mqtt connection error",
      );
    });

    const onConnection = (socket: Socket): void => {
      socket.on("error", () => socket.destroy());
      const client = broker.handle(socket);
      limitPacketSize(client, cfg.maxPacketSize, marks, (cmd, length) =>
        ctx.ingest.reject(
          cfg.id,
          "too-large",
          `${cmd} of ${length} bytes, maxPacketSize ${cfg.maxPacketSize}`,
        ),
      );
    };
    const server =
      cfg.tls === undefined
        ? createServer(onConnection)
        : createTlsServer(
            {
              cert: pem(cfg.tls.cert),
              key: pem(cfg.tls.key),
              ...(cfg.tls.ca === undefined ? {} : { ca: pem(cfg.tls.ca) }),
            },
            onConnection,
          );
    // Raw sockets, TLS handshakes in progress included, so stop() can end them all.
    server.on("connection", (socket: Socket) => {
      this.sockets.add(socket);
      socket.once("close", () => this.sockets.delete(socket));
    });
    server.on("tlsClientError", (err: Error) =>
      ctx.telemetry.warnLimited(
        `tls:${cfg.id}`,
        { source: cfg.id, err: err.message },
        "mqtt TLS handshake failed",
      ),
    );
    try {
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(cfg.port, cfg.host, () => {
          server.off("error", reject);
          resolve();
        });
      });
    } catch (err) {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      throw err;
    }
    server.on("error", (err) => ctx.log.error({ err }, "mqtt broker server error"));
    this.broker = broker;
    this.server = server;
    this.boundPort = (server.address() as AddressInfo).port;
    ctx.log.info(
      { host: cfg.host, port: this.boundPort, tls: cfg.tls !== undefined },
      "mqtt broker listening",
    );
  }

  stop(): Promise<void> {
    this.stopping ??= this.close();
    return this.stopping;
  }

  private async close(): Promise<void> {
    const { server, broker } = this;
    if (server === undefined || broker === undefined) return;
    // Stop accepting first, then close every client (unacked messages are resent by the devices).
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
    this.ctx.log.info("mqtt broker stopped");
  }
}

export function createMqttBrokerSource(cfg: MqttBrokerSourceConfig, ctx: SourceContext): MqttBrokerSource {
  return new BrokerSource(cfg, ctx);
}
