import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import { Reconnect } from "../../reconnect.js";
import type { Logger } from "../../telemetry/logger.js";
import { errText, safeUrl } from "../../telemetry/redact.js";
import type { Telemetry } from "../../telemetry/telemetry.js";
import { SinkError } from "../sink.js";

/** How a client is made; a test can put a fault-injecting proxy in front of the real broker. */
export type Dial = (url: string, opts: IClientOptions) => MqttClient;

export interface UpstreamOptions {
  url: string;
  client: IClientOptions;
  reconnect: { initialMs: number; maxMs: number };
  log: Logger;
  telemetry: Telemetry;
  sinkId: string;
  dial?: Dial;
}

/**
 * One connection to the upstream broker. mqtt.js's own reconnect runs on a fixed period (a fleet
 * that lost its broker comes back in lock-step), so it is off (`reconnectPeriod: 0`) and a lost
 * connection (or a failed dial) is re-dialled after a capped, jittered backoff (agent/reconnect.ts). Each dial is a fresh client
 * with a clean session: unacknowledged publishes are not replayed by mqtt.js but resent by the
 * shipping loop, as the same records with the same ids.
 */
export class Upstream {
  private client: MqttClient | undefined;
  private connecting: Promise<MqttClient> | undefined;
  private closed = false;
  private readonly lostListeners = new Set<() => void>();
  private readonly dial: Dial;
  private readonly reconnect: Reconnect;

  constructor(private readonly o: UpstreamOptions) {
    this.dial = o.dial ?? ((url, opts) => mqtt.connect(url, opts));
    this.reconnect = new Reconnect({
      kind: "sink",
      id: o.sinkId,
      backoff: o.reconnect,
      log: o.log,
      telemetry: o.telemetry,
      messages: {
        connected: "mqtt sink: connected",
        reconnected: "mqtt sink: reconnected",
        lost: "mqtt sink: connection lost; reconnecting with backoff",
        unreachable: "mqtt sink: cannot connect; retrying with backoff",
        stillDown: "mqtt sink: still disconnected",
      },
      retry: () => void this.connect().catch(() => {}),
    });
  }

  /** The connected client, dialling if no reconnect is already scheduled. */
  async get(): Promise<MqttClient> {
    if (this.client) return this.client;
    if (this.connecting) return this.connecting;
    const wait = this.reconnect.retryInMs;
    if (wait !== undefined) {
      throw new SinkError(
        `mqtt sink: not connected; reconnecting in ${wait} ms`,
        "MQTT_DISCONNECTED",
        true,
        wait,
      );
    }
    return this.connect();
  }

  connect(): Promise<MqttClient> {
    this.connecting ??= this.dialOnce().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  /** Called when a batch in flight must fail because the connection went away. */
  onLost(fn: () => void): () => void {
    this.lostListeners.add(fn);
    return () => this.lostListeners.delete(fn);
  }

  /** Drops a connection that misbehaves (PUBACKs not coming) and dials again after a backoff. */
  drop(c: MqttClient, why = "connection closed"): void {
    if (c !== this.client) return;
    this.client = undefined;
    c.end(true);
    for (const fn of [...this.lostListeners]) fn();
    this.reconnect.down(why);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.reconnect.stop();
    await this.connecting?.catch(() => {});
    const c = this.client;
    this.client = undefined;
    if (!c) return;
    // A polite DISCONNECT when the link is alive; never hang on a dead one.
    await Promise.race([
      new Promise<void>((r) => c.end(false, {}, () => r())),
      new Promise((r) => setTimeout(r, 1000)),
    ]);
    c.end(true);
    for (const fn of [...this.lostListeners]) fn();
  }

  private dialOnce(): Promise<MqttClient> {
    return new Promise<MqttClient>((resolve, reject) => {
      const c = this.dial(this.o.url, { ...this.o.client, reconnectPeriod: 0, clean: true });
      c.on("error", (err) =>
        this.o.log.debug({ err: errText(err), sink: this.o.sinkId }, "mqtt sink: client error"),
      );
      const fail = (why: string, err?: Error) => {
        c.removeListener("connect", ok);
        c.end(true);
        this.reconnect.down(why);
        reject(
          new SinkError(`mqtt sink: cannot connect: ${why}`, "MQTT_CONNECT", true, undefined, { cause: err }),
        );
      };
      const onError = (err: Error) => fail(errText(err), err);
      const onClose = () => fail("connection closed");
      const ok = () => {
        c.removeListener("error", onError);
        c.removeListener("close", onClose);
        if (this.closed) return fail("sink closed");
        this.client = c;
        c.on("close", () => this.drop(c));
        this.reconnect.up({ url: safeUrl(this.o.url) });
        resolve(c);
      };
      c.once("connect", ok);
      c.once("error", onError);
      c.once("close", onClose);
    });
  }
}
