import { connect, type IClientOptions, type IPublishPacket, type MqttClient } from "mqtt";
import { loadTls } from "../../config/tls.js";
import { Reconnect } from "../../reconnect.js";
import type { Logger } from "../../telemetry/logger.js";
import { errText, safeUrl } from "../../telemetry/redact.js";
import type { Telemetry } from "../../telemetry/telemetry.js";
import { ACK_LATER, deferredAcker } from "./acks.js";
import type { MqttSourceConfig } from "./config.js";

/** Handles one message; resolves when it may be acknowledged, rejects when it must not be. */
export type MessageHandler = (packet: IPublishPacket) => Promise<void>;

/** mqtt.js' connect, injectable so a test can wrap the client and inject faults. */
export type Connector = (url: string, opts: IClientOptions) => MqttClient;

/** Most QoS1 messages waiting for their commit (and PUBACK) at once; also MQTT 5's Receive Maximum. */
export const MAX_UNACKED = 1000;

/**
 * One mqtt.js client with a persistent session, acknowledgement after the handler resolves, and
 * reconnects on our own capped, jittered schedule: mqtt.js' `reconnectPeriod` is a fixed interval,
 * which brings a fleet back in lock-step after a broker restart, so it is switched off here.
 */
export class MqttConnection {
  private client: MqttClient | undefined;
  private readonly reconnect: Reconnect;
  private stopped = false;
  private lastError: string | undefined;
  /** Resolves when every message received so far is committed (and acked) or given up. */
  private tail: Promise<void> = Promise.resolve();
  /** QoS1 messages received and not yet committed, and mqtt.js' read-on callback while at the limit. */
  private unacked = 0;
  private paused: (() => void) | undefined;
  /** Bumped on every close, so a PUBACK never goes out on a later connection than its message's. */
  private generation = 0;

  constructor(
    private readonly cfg: MqttSourceConfig,
    private readonly clientId: string,
    private readonly log: Logger,
    telemetry: Telemetry,
    private readonly onMessage: MessageHandler,
    private readonly connector: Connector = connect,
  ) {
    this.reconnect = new Reconnect({
      kind: "source",
      id: cfg.id,
      backoff: cfg.reconnect,
      log,
      telemetry,
      messages: {
        connected: "mqtt connected",
        reconnected: "mqtt reconnected",
        lost: "mqtt connection lost; reconnecting with backoff",
        unreachable: "mqtt cannot connect; retrying with backoff",
        stillDown: "mqtt still disconnected",
      },
      retry: () => this.client?.reconnect(),
    });
  }

  /** Resolves after the first connect succeeded or failed; later attempts run in the background. */
  start(): Promise<void> {
    const client = this.connector(this.cfg.url, this.options());
    this.client = client;
    const ackLater = deferredAcker(client);
    client.handleMessage = (packet, done) => {
      const p = this.onMessage(packet);
      const generation = this.generation;
      if (packet.qos === 1 && ackLater) {
        // Read on at once; the PUBACK follows the commit, in arrival order (see acks.ts). Past
        // MAX_UNACKED, reading waits: a broker replaying a large backlog does not always hold to
        // its in-flight window, and memory must not grow with it.
        this.unacked++;
        const readOn = () => done(ACK_LATER);
        if (this.unacked <= MAX_UNACKED) readOn();
        else this.paused = readOn;
        this.tail = this.tail.then(
          () =>
            p.then(
              () => {
                if (generation === this.generation && client.connected) ackLater(packet);
              },
              (err: unknown) => this.notCommitted(client, packet, err, generation),
            ),
          () => {},
        );
        void p
          .catch(() => {})
          .finally(() => {
            this.unacked--;
            const resume = this.paused;
            if (resume && this.unacked <= MAX_UNACKED) {
              this.paused = undefined;
              resume();
            }
          });
        return;
      }
      // QoS0 (nothing to ack, but bounded in flight) and the fallback: mqtt.js acks when done runs.
      this.tail = this.tail.then(() =>
        p.then(
          () => {},
          () => {},
        ),
      );
      p.then(
        () => done(),
        (err: unknown) => {
          done(err instanceof Error ? err : new Error(String(err)));
          this.notCommitted(client, packet, err, generation);
        },
      );
    };
    client.on("connect", (connack) => {
      this.lastError = undefined;
      this.reconnect.up({
        url: safeUrl(this.cfg.url),
        clientId: this.clientId,
        sessionPresent: connack.sessionPresent,
      });
      if (!connack.sessionPresent || this.cfg.clean) this.subscribe(client);
    });
    client.on("error", (err) => {
      this.lastError = errText(err);
    });
    client.on("close", () => this.onClose());
    return new Promise((resolve) => {
      const settle = () => {
        client.off("connect", settle);
        client.off("close", settle);
        resolve();
      };
      client.on("connect", settle);
      client.on("close", settle);
    });
  }

  async stop(timeoutMs = 5000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.reconnect.stop();
    const client = this.client;
    if (!client) return;
    // Let the message being committed finish, so its PUBACK still goes out on this connection.
    await Promise.race([this.tail, new Promise((r) => setTimeout(r, timeoutMs).unref())]);
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => client.end(true, {}, () => resolve()), timeoutMs).unref();
      client.end(false, {}, () => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  private subscribe(client: MqttClient): void {
    client.subscribe(this.cfg.topics, { qos: this.cfg.qos }, (err, granted) => {
      if (err) {
        this.log.error({ err: errText(err), topics: this.cfg.topics }, "mqtt subscribe failed");
        return;
      }
      const refused = (granted ?? []).filter((g) => g.qos === 128).map((g) => g.topic);
      if (refused.length > 0) this.log.error({ topics: refused }, "mqtt broker refused subscriptions");
      else this.log.debug({ topics: this.cfg.topics, qos: this.cfg.qos }, "mqtt subscribed");
    });
  }

  /** Not acknowledged: reconnect so the broker redelivers it rather than waiting forever. */
  private notCommitted(client: MqttClient, packet: IPublishPacket, err: unknown, generation: number): void {
    if (generation !== this.generation) return;
    this.log.error({ err: errText(err), topic: packet.topic }, "message not committed; reconnecting");
    client.stream?.destroy();
  }

  private onClose(): void {
    this.generation++;
    if (this.stopped) return;
    this.reconnect.down(this.lastError ?? "connection closed", { url: safeUrl(this.cfg.url) });
  }

  private options(): IClientOptions {
    const c = this.cfg;
    const opts: IClientOptions = {
      clientId: this.clientId,
      clean: c.clean,
      protocolVersion: c.protocolVersion,
      keepalive: c.keepaliveSec,
      connectTimeout: c.connectTimeoutMs,
      reconnectPeriod: 0,
      resubscribe: false,
    };
    if (c.username !== undefined) opts.username = c.username;
    if (c.password !== undefined) opts.password = c.password;
    if (c.protocolVersion === 5) {
      opts.properties = { receiveMaximum: MAX_UNACKED };
      if (!c.clean)
        opts.properties.sessionExpiryInterval = Math.min(0xffffffff, Math.floor(c.sessionExpiryMs / 1000));
    }
    if (c.tls) Object.assign(opts, loadTls(c.tls));
    return opts;
  }
}
