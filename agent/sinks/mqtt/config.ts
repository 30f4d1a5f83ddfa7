import { z } from "zod";
import { duration, posInt, sinkCommon } from "../../config/common.js";
import { tlsFilesSchema } from "../../config/tls.js";
import { TOPIC_FIELDS } from "./topic.js";

export const mqttSinkSchema = z.strictObject({
  type: z.literal("mqtt"),
  ...sinkCommon,
  /** Upstream broker, e.g. `mqtts://xxxx-ats.iot.eu-west-1.amazonaws.com:8883`. */
  url: z
    .string({ error: "expected an mqtt://, mqtts://, ws:// or wss:// URL" })
    .refine(
      (u) => URL.canParse(u) && /^(mqtts?|wss?|tcp|tls|ssl):$/.test(new URL(u).protocol),
      "expected an mqtt://, mqtts://, ws:// or wss:// URL",
    ),
  /** Default `edgespool-<agentId>-<sink id>`; AWS IoT Core wants it to match the thing's policy. */
  clientId: z.string().min(1).optional(),
  username: z.string().optional(),
  password: z.string().optional(),
  /** Placeholders: {agent}, {sensor}, {source}, {id}. `+`, `#` in values become `_`. */
  topic: z
    .string()
    .min(1)
    .default("edgespool/{agent}/{sensor}")
    .refine(
      (t) =>
        [...t.matchAll(/\{([^}]*)\}/g)].every((m) => (TOPIC_FIELDS as readonly string[]).includes(m[1]!)),
      `expected placeholders among ${TOPIC_FIELDS.map((f) => `{${f}}`).join(", ")}`,
    )
    .refine((t) => !/[+#]/.test(t), "a publish topic cannot contain + or #"),
  retain: z.boolean().default(false),
  keepaliveSec: posInt().default(30),
  connectTimeoutMs: duration().default(10_000),
  /** A batch whose PUBACKs have not all arrived by then fails (retryable) and the connection is renewed. */
  ackTimeoutMs: duration().default(30_000),
  /** Reconnect backoff after a lost connection: capped, jittered (never a fixed-period storm). */
  reconnect: z
    .strictObject({
      initialMs: posInt().default(1000),
      maxMs: posInt().default(60_000),
    })
    .prefault({}),
  tls: tlsFilesSchema.optional(),
});
export type MqttSinkConfig = z.infer<typeof mqttSinkSchema>;
