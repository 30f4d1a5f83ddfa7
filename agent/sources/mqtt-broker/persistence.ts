import { createRequire } from "node:module";
import { Readable } from "node:stream";
import type { Client } from "aedes";
import type { BrokerLimits } from "./config.js";

/**
 * aedes' in-memory persistence (aedes-persistence) with bounds. Unbounded, it keeps every QoS1
 * message for every persistent session that subscribed and went away (an array per client id,
 * forever), every retained message, and every subscription a client asks for: one lurking
 * `clean: false` subscriber to `#` grew the agent by 135 MiB per 200k readings.
 *
 * Here the outgoing queues are our own (same semantics as aedes-persistence's: a list per client
 * id, messageId set on delivery, cleared on PUBACK) with a message and a byte bound per session,
 * dropping the oldest; the number of persistent sessions, of subscriptions per client and of
 * retained messages are capped; everything else is delegated to aedes-persistence.
 */

export type BoundReason = "queue-dropped" | "session-limit" | "retained-limit";

interface QueuedPacket {
  topic: string;
  payload: Buffer;
  messageId?: number;
  brokerId?: string;
  brokerCounter?: number;
}

interface Queue {
  packets: QueuedPacket[];
  bytes: number;
}

interface Sub {
  topic: string;
  qos: number;
}

/** The aedes-persistence methods used here; it has no types of its own for its factory. */
interface Inner {
  setup(broker: unknown): Promise<void>;
  addSubscriptions(client: { id: string }, subs: Sub[]): Promise<void>;
  removeSubscriptions(client: { id: string }, topics: string[]): Promise<void>;
  cleanSubscriptions(client: { id: string }): Promise<void>;
  subscriptionsByClient(client: { id: string }): Promise<Sub[]>;
  storeRetained(packet: QueuedPacket): Promise<void>;
  [method: string]: unknown;
}

// Their type declarations do not describe the CommonJS factory and constructor as used here.
const require = createRequire(import.meta.url);
const memory = require("aedes-persistence") as () => Inner;
const Packet = require("aedes-packet") as new (p: QueuedPacket) => QueuedPacket;

/** Rough fixed cost of one queued message beyond its topic and payload (object, array slot). */
const PACKET_OVERHEAD = 160;

const sizeOf = (p: { topic: string; payload: Buffer }): number =>
  p.topic.length + p.payload.length + PACKET_OVERHEAD;

export interface BoundedPersistenceOptions {
  limits: BrokerLimits;
  /** Whether this client may hold this subscription (the ACL); others are not stored. */
  maySubscribe(client: Client, topic: string): boolean;
  onBound(reason: BoundReason, n: number, detail: string): void;
}

/** The persistence to hand to aedes (as its `persistence` option), with the session counts auth needs. */
export function boundedPersistence(opts: BoundedPersistenceOptions): SessionInfo {
  const inner = memory();
  const { limits, onBound } = opts;
  const queues = new Map<string, Queue>();
  /** Client ids with stored subscriptions: the persistent sessions. */
  const sessions = new Map<string, Set<string>>();
  const retained = new Map<string, number>();
  let retainedBytes = 0;

  function enqueue(clientId: string, packet: QueuedPacket): void {
    let q = queues.get(clientId);
    if (q === undefined) {
      q = { packets: [], bytes: 0 };
      queues.set(clientId, q);
    }
    q.packets.push(packet);
    q.bytes += sizeOf(packet);
    let dropped = 0;
    while (
      q.packets.length > 1 &&
      (q.packets.length > limits.maxQueuedMessages || q.bytes > limits.maxQueuedBytes)
    ) {
      q.bytes -= sizeOf(q.packets.shift()!);
      dropped++;
    }
    // Amortised O(1) shift: V8 arrays shift in place up to a size, and the bound keeps them small.
    if (dropped > 0) onBound("queue-dropped", dropped, `session ${clientId}: queue full, oldest dropped`);
  }

  /** One copy of the payload per message: a slice of a socket read would keep the whole read alive. */
  function copy(packet: QueuedPacket): QueuedPacket {
    const p = new Packet(packet);
    p.payload = Buffer.from(packet.payload);
    return p;
  }

  const bounded = {
    async setup(broker: unknown): Promise<void> {
      await inner.setup(broker);
    },

    async outgoingEnqueue(sub: { clientId: string }, packet: QueuedPacket): Promise<void> {
      enqueue(sub.clientId, copy(packet));
    },

    async outgoingEnqueueCombi(subs: { clientId: string }[], packet: QueuedPacket): Promise<void> {
      if (subs.length === 0) return;
      const p = copy(packet);
      // Each queue gets its own Packet (messageId is per client); the payload copy is shared.
      for (const s of subs) enqueue(s.clientId, new Packet(p));
    },

    async outgoingUpdate(client: { id: string }, packet: QueuedPacket): Promise<void> {
      const q = queues.get(client.id);
      if (q === undefined) return;
      for (let i = 0; i < q.packets.length; i++) {
        const p = q.packets[i]!;
        if (p.brokerId === packet.brokerId) {
          if (p.brokerCounter === packet.brokerCounter) {
            p.messageId = packet.messageId;
            return;
          }
        } else if (p.messageId === packet.messageId) {
          q.packets[i] = packet;
          return;
        }
      }
      // Dropped meanwhile (queue full): delivered anyway, and its PUBACK will clear nothing.
      // aedes-persistence throws here, which makes aedes disconnect the client.
    },

    async outgoingClearMessageId(client: { id: string }, packet: { messageId?: number }) {
      const q = queues.get(client.id);
      if (q === undefined) return undefined;
      const i = q.packets.findIndex((p) => p.messageId === packet.messageId);
      if (i < 0) return undefined;
      const [p] = q.packets.splice(i, 1);
      q.bytes -= sizeOf(p!);
      if (q.packets.length === 0) queues.delete(client.id);
      return p;
    },

    outgoingStream(client: { id: string }): Readable {
      return Readable.from([...(queues.get(client.id)?.packets ?? [])]);
    },

    async addSubscriptions(client: Client, subs: Sub[]): Promise<void> {
      // aedes stores every subscription of a SUBSCRIBE packet once one of them is granted,
      // refused ones included; only what the ACL allows is kept here.
      let allowed = subs.filter((s) => opts.maySubscribe(client, s.topic));
      let held = sessions.get(client.id);
      if (held === undefined && sessions.size >= limits.maxSessions) {
        onBound("session-limit", 1, `session ${client.id} not kept: ${limits.maxSessions} sessions already`);
        return;
      }
      // authorizeSubscribe counts and refuses subscriptions over the limit; this only keeps the
      // stored set within it whatever aedes passes (it passes the whole packet on each grant).
      const room = limits.maxSubscriptions - (held?.size ?? 0);
      const fresh = allowed.filter((s) => !held?.has(s.topic)).slice(0, Math.max(0, room));
      allowed = [...allowed.filter((s) => held?.has(s.topic)), ...fresh];
      if (allowed.length === 0) return;
      held ??= new Set();
      sessions.set(client.id, held);
      for (const s of allowed) held.add(s.topic);
      await inner.addSubscriptions(client, allowed);
    },

    async removeSubscriptions(client: { id: string }, topics: string[]): Promise<void> {
      const held = sessions.get(client.id);
      if (held !== undefined) {
        for (const t of topics) held.delete(t);
        if (held.size === 0) sessions.delete(client.id);
      }
      await inner.removeSubscriptions(client, topics);
    },

    async cleanSubscriptions(client: { id: string }): Promise<void> {
      // A clean session (or a session ended) leaves nothing queued behind.
      sessions.delete(client.id);
      queues.delete(client.id);
      await inner.cleanSubscriptions(client);
    },

    async storeRetained(packet: QueuedPacket): Promise<void> {
      const old = retained.get(packet.topic);
      if (packet.payload.length === 0) {
        if (old !== undefined) {
          retained.delete(packet.topic);
          retainedBytes -= old;
        }
        return inner.storeRetained(packet);
      }
      const size = sizeOf(packet);
      const count = retained.size + (old === undefined ? 1 : 0);
      if (count > limits.maxRetained || retainedBytes - (old ?? 0) + size > limits.maxRetainedBytes) {
        onBound("retained-limit", 1, `${packet.topic.slice(0, 80)}: not retained, retained store full`);
        return;
      }
      retained.set(packet.topic, size);
      retainedBytes += size - (old ?? 0);
      return inner.storeRetained(copy(packet));
    },

    hasSession(clientId: string): boolean {
      return sessions.has(clientId);
    },

    get sessionCount(): number {
      return sessions.size;
    },

    /** Messages queued across all sessions (for tests and status). */
    get queued(): { messages: number; bytes: number } {
      let messages = 0;
      let bytes = 0;
      for (const q of queues.values()) {
        messages += q.packets.length;
        bytes += q.bytes;
      }
      return { messages, bytes };
    },
  };

  // Everything else (wills, QoS2 incoming state, retained streams, topic lookups) as aedes-persistence does it.
  return new Proxy(bounded, {
    get(target, prop, receiver) {
      if (prop in target) return Reflect.get(target, prop, receiver);
      const v = Reflect.get(inner, prop) as unknown;
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(inner) : v;
    },
  });
}

export interface SessionInfo {
  hasSession(clientId: string): boolean;
  readonly sessionCount: number;
  readonly queued: { messages: number; bytes: number };
}
