import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import { backoffDelay } from "../../backoff.js";
import type { Logger } from "../../telemetry/logger.js";
import { errText, safeUrl } from "../../telemetry/redact.js";
import { SinkError } from "../sink.js";

/** How a client is made; a test can put a fault-injecting proxy in front of the real broker. */
export type Dial = (url: string, opts: IClientOptions) => MqttClient;

export interface UpstreamOptions {
  url: string;
  client: IClientOptions;
  reconnect: { initialMs: number; maxMs: number };
  log: Logger;
  sinkId: string;
  dial?: Dial;
}

/**
 * One connection to the upstream broker. mqtt.js's own reconnect runs on a fixed period (a fleet
 * that lost its broker comes back in lock-step), so it is off (`reconnectPeriod: 0`) and a lost
 * connection is re-dialled here after a capped, jittered backoff. Each dial is a fresh client
 * with a clean session: unacknowledged publishes are not replayed by mqtt.js but resent by the
 * shipping loop, as the same records with the same ids.
 */
export class Upstream {
  private client: MqttClient | undefined;
  private connecting: Promise<MqttClient> | undefined;
  private attempt = 0;
  private nextAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly lostListeners = new Set<() => void>();
  private readonly dial: Dial;

  constructor(private readonly o: UpstreamOptions) {
    this.dial = o.dial ?? ((url, opts) => mqtt.connect(url, opts));
  }

  get connected(): MqttClient | undefined {
    return this.client;
  }

  /** The connected client, dialling if no reconnect is already scheduled. */
  async get(): Promise<MqttClient> {
    if (this.client) return this.client;
    if (this.connecting) return this.connecting;
    if (this.timer) {
      const wait = Math.max(0, this.nextAt - Date.now());
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
  drop(c: MqttClient): void {
    if (c !== this.client) return;
    this.client = undefined;
    c.end(true);
    for (const fn of [...this.lostListeners]) fn();
    this.scheduleReconnect();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
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
        this.attempt = 0;
        this.client = c;
        c.on("close", () => this.drop(c));
        this.o.log.info({ sink: this.o.sinkId, url: safeUrl(this.o.url) }, "mqtt sink: connected");
        resolve(c);
      };
      c.once("connect", ok);
      c.once("error", onError);
      c.once("close", onClose);
    });
  }

  private scheduleReconnect(): void {
    if (this.closed || this.timer) return;
    const delay = backoffDelay(this.attempt++, {
      initialMs: this.o.reconnect.initialMs,
      maxMs: this.o.reconnect.maxMs,
    });
    this.nextAt = Date.now() + delay;
    this.o.log.warn({ sink: this.o.sinkId, delayMs: delay }, "mqtt sink: connection lost; reconnecting");
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.connect().catch(() => this.scheduleReconnect());
    }, delay);
    this.timer.unref();
  }
}
