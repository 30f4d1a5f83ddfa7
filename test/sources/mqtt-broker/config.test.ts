import { describe, expect, it } from "vitest";
import { mqttBrokerSourceSchema } from "../../../agent/sources/mqtt-broker/config.js";

const base = { type: "mqtt-broker", id: "b" };
const issues = (cfg: object) => {
  const r = mqttBrokerSourceSchema.safeParse({ ...base, ...cfg });
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
};

describe("mqtt-broker config", () => {
  it("has safe defaults: no subscriptions, bounded sessions, queues, retained, connections", () => {
    const c = mqttBrokerSourceSchema.parse(base);
    expect(c.subscribe).toEqual([]);
    expect(c.limits).toEqual({
      maxConnections: 256,
      maxLoginFailures: 5,
      loginWindow: 60_000,
      publishRate: 0,
      maxSubscriptions: 32,
      maxSessions: 32,
      maxQueuedMessages: 1000,
      maxQueuedBytes: 256 * 1024,
      maxRetained: 1000,
      maxRetainedBytes: 1024 * 1024,
    });
  });

  it("refuses contradictions with their path", () => {
    expect(issues({ auth: [{ username: "a" }] })).toEqual([
      "auth.0.password: expected a password (only users that log in by certificate, tls.useIdentityAsUsername, may omit it)",
    ]);
    expect(issues({ auth: { username: "a", password: "p", publish: ["x"], topics: ["y"] } })).toEqual([
      "auth.topics: use publish or its older name topics, not both",
    ]);
    expect(issues({ tls: { certFile: "c", keyFile: "k", useIdentityAsUsername: true } })).toEqual([
      "tls.useIdentityAsUsername: useIdentityAsUsername needs caFile (client certificates are only asked for with a CA)",
    ]);
    expect(issues({ tls: { cert: "c", key: "k" } })[0]).toMatch(/tls/);
    expect(issues({ limits: { maxInFlight: 1 } })[0]).toMatch(/limits/);
  });

  it("lets certificate users go without a password", () => {
    expect(
      issues({
        tls: { certFile: "c", keyFile: "k", caFile: "ca", useIdentityAsUsername: true },
        auth: [{ username: "dev1", publish: ["sensors/{username}/#"] }],
      }),
    ).toEqual([]);
  });
});
