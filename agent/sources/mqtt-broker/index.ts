import type { AddressInfo } from "node:net";
import { createServer, type Server, type Socket } from "node:net";
import { createServer as createTlsServer } from "node:tls";
import { Aedes, type AuthorizeSubscribeHandler, type Client } from "aedes";
import { loadServerTls } from "../../config/tls.js";
import type { Source, SourceContext } from "../source.js";
import { Acl } from "./acl.js";
import { authenticator } from "./auth.js";
import type { MqttBrokerSourceConfig } from "./config.js";
import { limitPacketSize, OversizeMarks } from "./guard.js";
import { LoginLimiter, RateBucket } from "./limits.js";
import { brokerRefusals } from "./metrics.js";
import { boundedPersistence } from "./persistence.js";
import { publishHooks } from "./publish.js";

/**
 * The embedded MQTT broker: devices publish straight to the agent, and their PUBACK
 * is sent only once the reading is committed in the spool (see publish.ts for the ordering).
 *
 * `port: 0` binds a free port; after `start()` resolves, `source.port` is the bound port (tests
 * read it from there) and the "mqtt broker listening" log line carries it too.
 */

export interface MqttBrokerSource extends Source {
  /** The bound TCP port; valid after start() resolved. */
  readonly port: number;
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
    const refuse = brokerRefusals(ctx.telemetry, cfg.id);
    const marks = new OversizeMarks();
    const acl = new Acl();
    const rates = new WeakMap<Client, RateBucket>();
    const rate = cfg.limits.publishRate;
    const hooks = publishHooks(cfg, ctx.ingest, {
      marks,
      acl,
      ...(rate === 0
        ? {}
        : {
            withinRate: (client: Client) => {
              let b = rates.get(client);
              if (b === undefined) rates.set(client, (b = new RateBucket(rate)));
              return b.take();
            },
          }),
    });
    const persistence = boundedPersistence({
      limits: cfg.limits,
      maySubscribe: (client, topic) => acl.maySubscribe(client, topic),
      onBound: (reason, n, detail) => refuse(reason, n, { detail }, "mqtt broker limit reached"),
    });
    const auth = authenticator(
      cfg,
      acl,
      new LoginLimiter(cfg.limits.maxLoginFailures, cfg.limits.loginWindow),
      persistence,
      refuse,
    );
    // Filters each client holds, for limits.maxSubscriptions (a SUBSCRIBE's filters are
    // authorized in parallel, before any is added, so aedes' own list cannot be used).
    const held = new WeakMap<Client, Set<string>>();
    const authorizeSubscribe: AuthorizeSubscribeHandler = (client, sub, done) => {
      const mine = held.get(client) ?? new Set<string>();
      held.set(client, mine);
      const fields = { clientId: client.id, topic: sub.topic.slice(0, 80) };
      if (!acl.maySubscribe(client, sub.topic)) {
        refuse("subscribe-denied", 1, fields, "mqtt subscription refused");
        return done(null, null); // SUBACK 0x80 for this filter; the packet's others are decided alone
      }
      if (!mine.has(sub.topic) && mine.size >= cfg.limits.maxSubscriptions) {
        refuse("subscription-limit", 1, fields, "mqtt subscription refused: limits.maxSubscriptions");
        return done(null, null);
      }
      mine.add(sub.topic);
      done(null, sub);
    };
    const broker = new Aedes({
      ...hooks,
      authenticate: auth.authenticate,
      authorizeSubscribe,
      persistence: persistence as never, // aedes' type wants every method declared; the proxy delegates them
    });
    await broker.listen();
    broker.on("unsubscribe", (topics, client) => {
      for (const t of topics) held.get(client)?.delete(t);
    });
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
      socket.once("close", () => auth.forget(client));
      limitPacketSize(client, cfg.maxPacketSize, marks, (cmd, length) =>
        ctx.ingest.reject(
          cfg.id,
          "too-large",
          `${cmd} of ${length} bytes, maxPacketSize ${cfg.maxPacketSize}`,
        ),
      );
    };
    const server = cfg.tls === undefined ? createServer() : createTlsServer(loadServerTls(cfg.tls));
    if (cfg.tls !== undefined) server.on("secureConnection", onConnection);
    // Raw sockets, TLS handshakes in progress included, are counted against maxConnections
    // and kept so that stop() can end them all.
    server.on("connection", (socket: Socket) => {
      if (this.sockets.size >= cfg.limits.maxConnections) {
        refuse(
          "max-connections",
          1,
          { address: socket.remoteAddress, limit: cfg.limits.maxConnections },
          "mqtt connection refused: limits.maxConnections reached",
        );
        socket.destroy();
        return;
      }
      this.sockets.add(socket);
      socket.once("close", () => this.sockets.delete(socket));
      if (cfg.tls === undefined) onConnection(socket);
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
    server.on("error", (err) => {
      ctx.log.error({ err }, "mqtt broker server error");
      ctx.telemetry.health.report("source", cfg.id, { ok: false, reason: `listener error: ${err.message}` });
    });
    ctx.telemetry.health.report("source", cfg.id, { ok: true });
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
