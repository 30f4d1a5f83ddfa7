import { Counter } from "prom-client";
import type { Telemetry } from "../../telemetry/telemetry.js";

/**
 * What the broker's limits and access rules refused, by reason: connections, logins,
 * subscriptions, sessions, and queued or retained messages it dropped. Refused PUBLISHes are
 * counted with every other refused input in `edgespool_rejected_total`.
 */
export type RefuseReason =
  | "max-connections"
  | "bad-credentials"
  | "login-rate"
  | "not-authorized"
  | "client-id"
  | "client-id-taken"
  | "subscribe-denied"
  | "session-limit"
  | "subscription-limit"
  | "queue-dropped"
  | "retained-limit";

const NAME = "edgespool_broker_refused_total";

export function brokerRefusals(telemetry: Telemetry, source: string) {
  // One counter per registry, shared by every broker source of the agent.
  const counter =
    (telemetry.registry.getSingleMetric(NAME) as Counter<"source" | "reason"> | undefined) ??
    new Counter({
      name: NAME,
      help: "Refused or dropped by the embedded MQTT broker's limits and access rules, by source and reason.",
      labelNames: ["source", "reason"],
      registers: [telemetry.registry],
    });
  return (reason: RefuseReason, n: number, fields: Record<string, unknown>, msg: string): void => {
    counter.inc({ source, reason }, n);
    telemetry.warnLimited(`broker:${source}:${reason}`, { source, reason, ...fields }, msg);
  };
}
export type Refuse = ReturnType<typeof brokerRefusals>;
