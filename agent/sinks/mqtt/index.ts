import type { IClientOptions } from "mqtt";
import { loadTls } from "../../config/tls.js";
import { errText } from "../../telemetry/redact.js";
import type { OutRecord } from "../../record/record.js";
import { type Sink, type SinkContext, SinkError, type WriteResult } from "../sink.js";
import type { MqttSinkConfig } from "./config.js";
import { topicFor } from "./topic.js";
import { type Dial, Upstream } from "./upstream.js";

export interface MqttSinkOptions {
  dial?: Dial;
}

/**
 * Publishes each record to an upstream broker at QoS1 (bridge mode). A batch resolves
 * only when every PUBACK arrived; a lost connection, an ack timeout or a refused publish fails the
 * whole batch (retryable) and the loop resends it — duplicates carry the same `id`.
 */
export function createMqttSink(cfg: MqttSinkConfig, ctx: SinkContext, opt: MqttSinkOptions = {}): Sink {
  const tls = cfg.tls;
  const client: IClientOptions = {
    clientId: cfg.clientId ?? `edgespool-${ctx.agentId}-${cfg.id}`,
    username: cfg.username,
    password: cfg.password,
    keepalive: cfg.keepaliveSec,
    connectTimeout: cfg.connectTimeoutMs,
    ...loadTls(tls),
  };
  const up = new Upstream({
    url: cfg.url,
    client,
    reconnect: cfg.reconnect,
    log: ctx.log,
    telemetry: ctx.telemetry,
    sinkId: cfg.id,
    dial: opt.dial,
  });
  let closed: Promise<void> | undefined;

  async function publish(batch: readonly OutRecord[], signal: AbortSignal): Promise<WriteResult> {
    const c = await up.get();
    return new Promise<WriteResult>((resolve, reject) => {
      let left = batch.length;
      let done = false;
      const finish = (err?: SinkError) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        offLost();
        signal.removeEventListener("abort", onAbort);
        if (err) reject(err);
        else resolve({});
      };
      const offLost = up.onLost(() =>
        finish(
          new SinkError(
            "mqtt sink: connection lost before every PUBACK arrived",
            "MQTT_CONNECTION_LOST",
            true,
          ),
        ),
      );
      const onAbort = () => finish(new SinkError("mqtt sink: aborted", "ABORTED", true));
      signal.addEventListener("abort", onAbort, { once: true });
      const timer = setTimeout(() => {
        finish(new SinkError(`mqtt sink: no PUBACK within ${cfg.ackTimeoutMs} ms`, "MQTT_ACK_TIMEOUT", true));
        up.drop(c, "PUBACKs not coming");
      }, cfg.ackTimeoutMs);
      for (const r of batch) {
        c.publish(topicFor(cfg.topic, ctx.agentId, r), r.body, { qos: 1, retain: cfg.retain }, (err) => {
          if (err)
            finish(
              new SinkError(`mqtt sink: publish failed: ${errText(err)}`, "MQTT_PUBLISH", true, undefined, {
                cause: err,
              }),
            );
          else if (--left === 0) finish();
        });
      }
      if (signal.aborted) onAbort();
    });
  }

  return {
    id: cfg.id,
    type: "mqtt",
    async start() {
      await up.get();
    },
    async write(batch, signal) {
      if (closed) throw new SinkError("mqtt sink: closed", "CLOSED", true);
      if (batch.length === 0) return {};
      return publish(batch, signal);
    },
    close() {
      closed ??= up.close();
      return closed;
    },
  };
}
