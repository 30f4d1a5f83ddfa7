import { randomBytes } from "node:crypto";
import mqtt, { type MqttClient } from "mqtt";
import { expandTemplate, type MessageEvent, type Output, toBuffer } from "./output.js";

export interface MqttOutputOptions {
  url: string;
  /** Topic template over {room}, {sensor} and {device}. */
  topic: string;
  qos: 0 | 1 | 2;
  /** "device": one connection per device (as a real fleet); a number: that many shared connections. */
  clients: number | "device";
  /** Devices by index, so per-device clients can be connected up front. */
  devices: readonly { index: number; id: string }[];
  clientIdPrefix?: string;
  username?: string;
  password?: string;
  /** Publishes awaiting their callback (write, or PUBACK for QoS 1) before `send` asks the runner to wait. */
  window?: number;
  /** mqtt.js reconnects on a fixed period: exactly what makes a fleet reconnect in storms. */
  reconnectPeriodMs?: number;
  /** Concurrent connection attempts while opening many clients. */
  connectConcurrency?: number;
  /** close() gives up on unacknowledged publishes after this long without one acknowledgement (default 10 s). */
  stallMs?: number;
}

/** Publishes each message on its device's connection; a device always uses the same one, so its order holds. */
export function createMqttOutput(opts: MqttOutputOptions): Output {
  const prefix = opts.clientIdPrefix ?? `es${randomBytes(2).toString("hex")}`;
  const perDevice = opts.clients === "device";
  const n = perDevice ? opts.devices.length : Math.max(1, opts.clients as number);
  const window = opts.window ?? 2000;
  const clients: MqttClient[] = [];
  const topics: string[] = [];
  let outstanding = 0;
  let sent = 0;
  let errors = 0;
  let retries = 0;
  let waiters: (() => void)[] = [];

  const done = (err?: Error) => {
    outstanding--;
    if (err) errors++;
    if (waiters.length > 0 && outstanding <= window / 2) {
      const w = waiters;
      waiters = [];
      for (const f of w) f();
    }
  };
  let closing = false;
  // mqtt.js fails publishes queued while it replays its store if the connection drops again;
  // such a publish never reached the store, so send it again, as device firmware would.
  // A QoS 0 publish waiting for 'drain' on a socket that then dies is never called back: settle
  // those when the connection closes (they are lost, which QoS 0 allows).
  const waitingQos0 = new Map<MqttClient, Set<() => void>>();
  const publish = (client: MqttClient, topic: string, payload: string | Buffer, qos: 0 | 1 | 2) => {
    if (qos === 0) {
      const set = waitingQos0.get(client) ?? new Set();
      waitingQos0.set(client, set);
      const settle = () => {
        if (set.delete(settle)) done();
      };
      set.add(settle);
      client.publish(topic, payload, { qos }, settle);
      return;
    }
    client.publish(topic, payload, { qos }, (err) => {
      if (err && !closing) {
        retries++;
        setTimeout(() => publish(client, topic, payload, qos), 50);
      } else done(err);
    });
  };
  const whenBelow = (limit: number) =>
    outstanding <= limit ? Promise.resolve() : new Promise<void>((resolve) => waiters.push(resolve));

  function connect(i: number): Promise<MqttClient> {
    const id = perDevice ? `${prefix}-${opts.devices[i]!.id.replace(/\//g, "-")}` : `${prefix}-c${i}`;
    const client = mqtt.connect(opts.url, {
      clientId: id.slice(0, 23),
      username: opts.username,
      password: opts.password,
      reconnectPeriod: opts.reconnectPeriodMs ?? 1000,
      connectTimeout: 10_000,
      protocolVersion: 4,
    });
    client.on("error", () => errors++);
    client.on("close", () => {
      const set = waitingQos0.get(client);
      if (set) for (const settle of [...set]) settle();
    });
    return new Promise((resolve, reject) => {
      client.once("connect", () => resolve(client));
      client.once("error", (err) => {
        if (client.connected) return;
        // Otherwise mqtt.js keeps reconnecting in the background and the process never exits.
        client.end(true);
        reject(err);
      });
    });
  }

  return {
    kind: "mqtt",
    async open() {
      const limit = opts.connectConcurrency ?? 100;
      let next = 0;
      const worker = async () => {
        while (next < n) {
          const i = next++;
          clients[i] = await connect(i);
        }
      };
      try {
        await Promise.all(Array.from({ length: Math.min(limit, n) }, worker));
      } catch (err) {
        await Promise.all(clients.filter(Boolean).map((c) => c.endAsync(true)));
        throw err;
      }
    },
    send(msg: MessageEvent) {
      const d = msg.device;
      let topic = topics[d.index];
      if (topic === undefined) {
        topic = expandTemplate(opts.topic, { room: d.room.spec.name, sensor: d.sensor, device: d.id });
        topics[d.index] = topic;
      }
      const client = clients[perDevice ? d.index : d.index % n]!;
      // An oversized publish makes a broker drop the connection; at QoS 0 it is not replayed forever.
      const qos = msg.truth.faults.includes("oversize") ? 0 : opts.qos;
      outstanding++;
      sent++;
      // Strings go to mqtt.js as they are: it writes them without an intermediate Buffer.
      publish(client, topic, typeof msg.payload === "string" ? msg.payload : toBuffer(msg.payload), qos);
      return outstanding < window;
    },
    drain: () => whenBelow(window / 2),
    storm() {
      for (const c of clients) c.stream?.destroy();
    },
    async close() {
      // Wait while acknowledgements keep coming, not for a fixed time: after a reconnect mqtt.js
      // replays its unacknowledged publishes one per PUBACK, so a backlog drains at the broker's
      // ack pace (behind an agent's commit pacing, one message per commit delay per client).
      let left = outstanding;
      let progressAt = Date.now();
      while (outstanding > 0) {
        await Promise.race([whenBelow(0), sleep(50)]);
        if (outstanding < left) [left, progressAt] = [outstanding, Date.now()];
        else if (Date.now() - progressAt >= (opts.stallMs ?? 10_000)) break;
      }
      closing = true;
      // mqtt.js's end(false) waits for every unacknowledged publish but stops replaying them once
      // it is ending, so with any left it would never return: those are given up on (not acked,
      // so a reader of the truth log sees them missing) rather than hanging the close.
      const force = outstanding > 0;
      await Promise.all(clients.map((c) => c.endAsync(force).catch(() => undefined)));
    },
    stats: () => ({ sent, errors, retries }),
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
