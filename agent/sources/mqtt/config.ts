import { z } from "zod";
import { duration, id, posInt } from "../../config/common.js";
import { tlsFilesSchema } from "../../config/tls.js";
import { parserSchema } from "../../parse/types.js";

export const mqttSourceSchema = z.strictObject({
  type: z.literal("mqtt"),
  id: id(),
  /** The external broker, e.g. mqtt://broker:1883, mqtts://broker:8883, ws://broker:9001/mqtt. */
  url: z
    .string()
    .regex(
      /^(mqtts?|wss?):\/\/[^/]/,
      "expected a URL such as mqtt://host:1883, mqtts://…, ws://… or wss://…",
    ),
  /** Topic filters to subscribe to, e.g. "sensors/#". */
  topics: z.array(z.string().min(1)).min(1, "expected at least one topic filter"),
  /** Names the parts of a topic, e.g. "sensors/{room}/{sensor}/temperature"; they feed the sensor template. */
  topicTemplate: z.string().optional(),
  /** 1 (default): the broker keeps a message until the agent committed it. 0: fire and forget. */
  qos: z.union([z.literal(0), z.literal(1)], { error: "expected qos 0 or 1" }).default(1),
  /** Fixed, so the broker finds the persistent session again; default edgespool-<agentId>-<id>. */
  clientId: z.string().min(1).max(128).optional(),
  username: z.string().min(1).optional(),
  password: z.string().optional(),
  /** PEM file paths: the CA to trust, and a client certificate and key (e.g. AWS IoT Core). */
  tls: tlsFilesSchema.optional(),
  protocolVersion: z
    .union([z.literal(4), z.literal(5)], { error: "expected 4 (MQTT 3.1.1) or 5" })
    .default(4),
  /** false (default): a persistent session, so the broker queues QoS1 messages while the agent is down. */
  clean: z.boolean().default(false),
  /** MQTT 5: how long the broker keeps the session after a disconnect. */
  sessionExpiryMs: duration().default(7 * 86_400_000),
  keepaliveSec: posInt().default(30),
  connectTimeoutMs: duration().default(10_000),
  /** Delays between reconnect attempts: capped exponential backoff with jitter, not a fixed period. */
  reconnect: z
    .strictObject({ initialMs: posInt().default(500), maxMs: posInt().default(30_000) })
    .prefault({}),
  ...parserSchema,
});
export type MqttSourceConfig = z.infer<typeof mqttSourceSchema>;
