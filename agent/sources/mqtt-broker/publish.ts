import type { AuthorizeForwardHandler, AuthorizePublishHandler, Client } from "aedes";
import {
  compileTopicFilters,
  compileTopicTemplate,
  createParser,
  type TopicTemplate,
} from "../../parse/index.js";
import type { RejectReason } from "../../parse/types.js";
import type { Reading } from "../../record/record.js";
import type { Ingest } from "../source.js";
import type { MqttBrokerSourceConfig } from "./config.js";
import { Acl } from "./acl.js";
import { OversizeMarks } from "./guard.js";

/**
 * The publish path of the embedded broker. aedes calls `authorizePublish` for every PUBLISH of a
 * socket read concurrently and sends PUBACK (then delivers to subscribers) when its callback runs.
 * So each message is parsed and submitted at once (the ingest commits many per transaction), and
 * its callback is released only after the commit AND after every earlier message of the same
 * client was released: acks and deliveries keep the client's publish order (MQTT-4.6.0-2), and a
 * rejected message cannot overtake a good one still waiting for its commit.
 *
 * A rejected message is still acknowledged, so the device keeps its connection and does not
 * resend it forever; it is counted by reason, not stored, not retained and not relayed.
 */

export interface PublishHooks {
  authorizePublish: AuthorizePublishHandler;
  authorizeForward: AuthorizeForwardHandler;
}

/** What the publish path checks besides the payload; all optional so config checks can compile the hooks alone. */
export interface PublishGuards {
  marks?: OversizeMarks;
  acl?: Acl;
  /** False when the client is over its publish rate. */
  withinRate?: (client: Client) => boolean;
}

export function publishHooks(
  cfg: MqttBrokerSourceConfig,
  ingest: Ingest,
  guards: PublishGuards = {},
): PublishHooks {
  const { marks = new OversizeMarks(), acl = new Acl(), withinRate } = guards;
  const parser = createParser(cfg);
  const template: TopicTemplate | undefined =
    cfg.topicTemplate === undefined ? undefined : compileTopicTemplate(cfg.topicTemplate);
  const accepted = compileTopicFilters(cfg.topics);
  // Payload buffers of refused messages: aedes wraps the packet for delivery but keeps the buffer.
  const refused = new WeakSet<object>();
  const tails = new WeakMap<Client, Promise<void>>();

  function refuse(payload: Buffer, reason: RejectReason, detail: string): Promise<Error | null> {
    ingest.reject(cfg.id, reason, detail);
    refused.add(payload);
    return Promise.resolve(null);
  }

  function handle(client: Client | null, topic: string, payload: Buffer): Promise<Error | null> {
    const oversized = marks.detail(payload);
    if (oversized !== undefined) return refuse(payload, "too-large", `${topic.slice(0, 80)}: ${oversized}`);
    if (client !== null && withinRate !== undefined && !withinRate(client))
      return refuse(payload, "rate-limited", `${topic.slice(0, 80)}: ${client.id} over limits.publishRate`);
    if (topic.startsWith("$"))
      return refuse(payload, "unknown-topic", `${topic.slice(0, 80)}: $-topics are reserved`);
    if (!accepted(topic))
      return refuse(payload, "unknown-topic", `${topic.slice(0, 80)}: matches no filter in topics`);
    if (!acl.mayPublish(client, topic))
      return refuse(
        payload,
        "not-authorized",
        `${topic.slice(0, 80)}: outside the ACL of ${client?.id ?? "?"}`,
      );
    let vars: Record<string, string> | undefined;
    if (template !== undefined) {
      vars = template.match(topic);
      if (vars === undefined)
        return refuse(payload, "unknown-topic", `${topic.slice(0, 80)}: does not fit ${template.template}`);
    }
    const r = parser.parse(payload, vars === undefined ? { topic } : { topic, vars });
    if (!r.ok) return refuse(payload, r.reason, `${topic.slice(0, 80)}: ${r.detail}`);
    return submit(client?.id, r.readings);
  }

  // The PUBLISHes of one socket read reach authorizePublish synchronously, one after another;
  // they go to the ingest as one submission (one promise, one record batch), which costs far less
  // per message than a submission each. All of them are released once it is committed. The client
  // id goes along: the ingest holds a commit for company only while other clients are active.
  let gathering: Reading[] | undefined;
  let gathered: Promise<Error | null> | undefined;
  let gatheredFor: string | undefined;
  function submit(clientId: string | undefined, readings: readonly Reading[]): Promise<Error | null> {
    if (gathering === undefined || gathered === undefined || gatheredFor !== clientId) {
      const batch: Reading[] = [];
      gathering = batch;
      gatheredFor = clientId;
      gathered = Promise.resolve().then(() => {
        if (gathering === batch) gathering = undefined;
        return ingest.submit(cfg.id, batch, clientId).then(
          () => null,
          // Not committed: no PUBACK. aedes closes the connection and the device resends after reconnecting.
          (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
        );
      });
    }
    for (const r of readings) gathering.push(r);
    return gathered;
  }

  const authorizePublish: AuthorizePublishHandler = (client, packet, callback) => {
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    let outcome: Promise<Error | null>;
    try {
      outcome = handle(client, packet.topic, payload);
    } catch (err) {
      outcome = refuse(payload, "bad-format", err instanceof Error ? err.message : String(err));
    }
    if (refused.has(payload)) {
      packet.payload = payload;
      packet.retain = false;
    }
    const release = (err: Error | null): void => {
      try {
        callback(err);
      } catch {
        // aedes' own failure; the chain must go on for the client's later messages.
      }
    };
    if (client === null) {
      void outcome.then(release);
      return;
    }
    const prev = tails.get(client);
    tails.set(client, (prev === undefined ? outcome : prev.then(() => outcome)).then(release));
  };

  // Refused messages are never relayed, and a client receives only what its grants cover: aedes
  // also delivers what it queued for a session before, or for a refused filter of a SUBSCRIBE
  // packet it stored along with a granted one.
  const authorizeForward: AuthorizeForwardHandler = (client, packet) =>
    (typeof packet.payload === "object" && refused.has(packet.payload)) ||
    !acl.mayReceive(client, packet.topic)
      ? null
      : packet;

  return { authorizePublish, authorizeForward };
}
