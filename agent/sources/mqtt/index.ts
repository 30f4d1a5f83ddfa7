import type { IPublishPacket } from "mqtt";
import { compileTopicTemplate, createParser } from "../../parse/index.js";
import type { Source, SourceContext } from "../source.js";
import type { MqttSourceConfig } from "./config.js";
import { type Connector, MqttConnection } from "./connection.js";

export interface MqttDeps {
  connector?: Connector;
}

/**
 * Subscribes to an external broker and commits each message before acknowledging it: a QoS1
 * message the agent has not committed stays with the broker, which redelivers it after a reconnect
 * or a crash. A redelivery is recognised as a duplicate (and kept once) only when the payload has
 * a device timestamp or sequence, which gives it a content-derived id; otherwise it is stored again.
 */
export function createMqttSource(cfg: MqttSourceConfig, ctx: SourceContext, deps: MqttDeps = {}): Source {
  const parser = createParser(cfg);
  const template = cfg.topicTemplate === undefined ? undefined : compileTopicTemplate(cfg.topicTemplate);
  const clientId = cfg.clientId ?? `edgespool-${ctx.agentId}-${cfg.id}`;
  const log = ctx.log;

  async function onMessage(packet: IPublishPacket): Promise<void> {
    const topic = packet.topic;
    let vars: Record<string, string> | undefined;
    if (template !== undefined) {
      vars = template.match(topic);
      if (vars === undefined) {
        // Acknowledged anyway: redelivering a message we will always refuse helps nobody.
        ctx.ingest.reject(cfg.id, "unknown-topic", `topic "${topic}" does not fit "${template.template}"`);
        return;
      }
    }
    const res = parser.parse(packet.payload, { topic, ...(vars === undefined ? {} : { vars }) });
    if (!res.ok) {
      ctx.ingest.reject(cfg.id, res.reason, `${topic}: ${res.detail}`);
      return;
    }
    await ctx.ingest.submit(cfg.id, res.readings);
  }

  const conn = new MqttConnection(cfg, clientId, log, ctx.telemetry, onMessage, deps.connector);
  return {
    id: cfg.id,
    type: "mqtt",
    start: () => conn.start(),
    stop: () => conn.stop(),
  };
}
