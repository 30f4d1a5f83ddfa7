import { z } from "zod";
import { bytes, id, port } from "../../config/common.js";
import { parserSchema } from "../../parse/types.js";

const userSchema = z.strictObject({
  username: z.string().min(1),
  password: z.string().min(1),
  /**
   * ACL: topic filters this user may publish to; `{username}` and `{clientId}` are replaced at
   * connect, e.g. "sensors/{username}/#". Default: everything `topics` accepts.
   */
  topics: z.array(z.string().min(1)).min(1).optional(),
});
export type BrokerUser = z.infer<typeof userSchema>;

export const mqttBrokerSourceSchema = z.strictObject({
  type: z.literal("mqtt-broker"),
  id: id(),
  host: z.string().default("127.0.0.1"),
  port: port().default(1883),
  /** Topic filters accepted, e.g. "sensors/#". Anything else is rejected as unknown-topic. */
  topics: z.array(z.string().min(1)).min(1).default(["#"]),
  /** Template that names the parts of a topic, e.g. "sensors/{room}/{sensor}/temperature". */
  topicTemplate: z.string().optional(),
  maxPacketSize: bytes().default(64 * 1024),
  /** Optional username/password authentication: one user, or a list of users with ACLs. */
  auth: z.union([userSchema, z.array(userSchema).min(1)]).optional(),
  tls: z.strictObject({ cert: z.string(), key: z.string(), ca: z.string().optional() }).optional(),
  ...parserSchema,
});
export type MqttBrokerSourceConfig = z.infer<typeof mqttBrokerSourceSchema>;
