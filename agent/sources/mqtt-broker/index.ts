import type { Source, SourceContext } from "../source.js";
import type { MqttBrokerSourceConfig } from "./config.js";

/** Embedded MQTT broker source (DESIGN §5). Work in progress: the aedes wiring lands next. */
export function createMqttBrokerSource(cfg: MqttBrokerSourceConfig, ctx: SourceContext): Source {
  void ctx;
  return {
    id: cfg.id,
    type: "mqtt-broker",
    async start() {},
    async stop() {},
  };
}
