import { z } from "zod";
import { bytes, duration, id, nonNegInt, port, posInt } from "../../config/common.js";
import { serverTlsSchema } from "../../config/tls.js";
import { parserSchema } from "../../parse/types.js";

const filters = () => z.array(z.string().min(1)).min(1);

const userSchema = z
  .strictObject({
    username: z.string().min(1),
    /** Required unless the user logs in by client certificate (`tls.useIdentityAsUsername`). */
    password: z.string().min(1).optional(),
    /**
     * Topic filters this user may publish to; `{username}` and `{clientId}` are replaced at
     * connect, e.g. "sensors/{username}/#". Default: everything the source's `topics` accepts.
     */
    publish: filters().optional(),
    /** Older name of `publish`, still accepted. */
    topics: filters().optional(),
    /** Topic filters this user may subscribe to (same substitutions). Default: the source's `subscribe`. */
    subscribe: z.array(z.string().min(1)).optional(),
    /**
     * Client ids this user may connect with: exact ids, or prefixes ending in `*`, after
     * `{username}` is replaced, e.g. ["{username}", "{username}-*"]. Default: any id.
     */
    clientIds: filters().optional(),
  })
  .refine((u) => u.publish === undefined || u.topics === undefined, {
    message: "use publish or its older name topics, not both",
    path: ["topics"],
  });
export type BrokerUser = z.infer<typeof userSchema>;

/** Bounds that keep the broker's memory flat whatever clients do. Defaults in the README. */
const limitsSchema = z
  .strictObject({
    /** Open connections (TLS handshakes included); more are closed at once, counted. */
    maxConnections: posInt().default(256),
    /** Failed logins per remote address within `loginWindow`; after that the address is refused until it ends. */
    maxLoginFailures: posInt().default(5),
    loginWindow: duration().default(60_000),
    /** Messages per second one client may publish (bursts of twice that); 0 = no limit. */
    publishRate: nonNegInt().default(0),
    /** Subscriptions one client may hold. */
    maxSubscriptions: posInt().default(32),
    /** Persistent sessions (clean=false) kept; a new one beyond this is refused at CONNECT. */
    maxSessions: nonNegInt().default(32),
    /** QoS1 messages queued for one session (online or not); beyond either bound the oldest are dropped. */
    maxQueuedMessages: posInt().default(1000),
    maxQueuedBytes: bytes().default(256 * 1024),
    /** Retained messages kept; a new retained topic beyond either bound is not retained (still ingested). */
    maxRetained: nonNegInt().default(1000),
    maxRetainedBytes: bytes().default(1024 * 1024),
  })
  .prefault({});
export type BrokerLimits = z.infer<typeof limitsSchema>;

export const mqttBrokerSourceSchema = z
  .strictObject({
    type: z.literal("mqtt-broker"),
    id: id(),
    host: z.string().default("127.0.0.1"),
    port: port().default(1883),
    /** Topic filters accepted, e.g. "sensors/#". Anything else is rejected as unknown-topic. */
    topics: filters().default(["#"]),
    /**
     * Topic filters clients may subscribe to (a user's own `subscribe` replaces it). Default none:
     * the broker is an ingest endpoint, and a subscriber could read every device's readings.
     */
    subscribe: z.array(z.string().min(1)).default([]),
    /** Template that names the parts of a topic, e.g. "sensors/{room}/{sensor}/temperature". */
    topicTemplate: z.string().optional(),
    maxPacketSize: bytes().default(64 * 1024),
    /** Optional username/password authentication: one user, or a list of users with ACLs. */
    auth: z.union([userSchema, z.array(userSchema).min(1)]).optional(),
    tls: serverTlsSchema.optional(),
    limits: limitsSchema,
    ...parserSchema,
  })
  .superRefine((cfg, ctx) => {
    const users = cfg.auth === undefined ? [] : Array.isArray(cfg.auth) ? cfg.auth : [cfg.auth];
    const byCert = cfg.tls?.useIdentityAsUsername === true;
    users.forEach((u, i) => {
      if (u.password === undefined && !byCert)
        ctx.addIssue({
          code: "custom",
          message:
            "expected a password (only users that log in by certificate, tls.useIdentityAsUsername, may omit it)",
          path: ["auth", ...(Array.isArray(cfg.auth) ? [i] : []), "password"],
        });
    });
  });
export type MqttBrokerSourceConfig = z.infer<typeof mqttBrokerSourceSchema>;
