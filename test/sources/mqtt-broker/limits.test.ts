import { describe, expect, it } from "vitest";
import { mqttBrokerSourceSchema } from "../../../agent/sources/mqtt-broker/config.js";
import { LoginLimiter, RateBucket } from "../../../agent/sources/mqtt-broker/limits.js";
import { boundedPersistence } from "../../../agent/sources/mqtt-broker/persistence.js";

describe("login lockout", () => {
  it("refuses an address after max failures until the window that began with the first has passed", () => {
    let now = 0;
    const l = new LoginLimiter(3, 60_000, () => now);
    for (let i = 0; i < 3; i++) {
      expect(l.blocked("10.0.0.9")).toBe(false);
      l.failed("10.0.0.9");
      now += 1000;
    }
    expect(l.blocked("10.0.0.9")).toBe(true);
    expect(l.blocked("10.0.0.8")).toBe(false);
    now = 59_999;
    expect(l.blocked("10.0.0.9")).toBe(true);
    now = 60_000;
    expect(l.blocked("10.0.0.9")).toBe(false);
  });

  it("remembers a bounded number of addresses", () => {
    const l = new LoginLimiter(1, 60_000, () => 0);
    for (let i = 0; i < 10_000; i++) l.failed(`a${i}`);
    expect(l.blocked("a9999")).toBe(true);
    expect(l.blocked("a0")).toBe(false); // forgotten, oldest first
  });
});

describe("publish rate", () => {
  it("allows bursts of twice the rate, then the rate", () => {
    let now = 0;
    const b = new RateBucket(5, () => now);
    let ok = 0;
    for (let i = 0; i < 100; i++) if (b.take()) ok++;
    expect(ok).toBe(10);
    now = 1000;
    ok = 0;
    for (let i = 0; i < 100; i++) if (b.take()) ok++;
    expect(ok).toBe(5);
  });
});

describe("bounded persistence", () => {
  const limits = mqttBrokerSourceSchema.parse({
    type: "mqtt-broker",
    id: "b",
    limits: { maxQueuedMessages: 3 },
  }).limits;
  const packet = (i: number) => ({
    topic: "t",
    payload: Buffer.from(String(i)),
    brokerId: "x",
    brokerCounter: i,
    qos: 1,
  });

  async function drain(stream: NodeJS.ReadableStream): Promise<string[]> {
    const out: string[] = [];
    for await (const p of stream as AsyncIterable<{ payload: Buffer }>) out.push(p.payload.toString());
    return out;
  }

  it("keeps the newest messages per session, tolerates acks and updates of dropped ones, and forgets a cleaned session", async () => {
    const dropped: number[] = [];
    const p = boundedPersistence({
      limits,
      maySubscribe: () => true,
      onBound: (_r, n) => dropped.push(n),
    }) as unknown as {
      outgoingEnqueueCombi(subs: { clientId: string }[], packet: object): Promise<void>;
      outgoingUpdate(client: { id: string }, packet: object): Promise<void>;
      outgoingClearMessageId(client: { id: string }, packet: object): Promise<unknown>;
      outgoingStream(client: { id: string }): NodeJS.ReadableStream;
      cleanSubscriptions(client: { id: string }): Promise<void>;
      queued: { messages: number };
    };
    for (let i = 0; i < 5; i++) await p.outgoingEnqueueCombi([{ clientId: "c" }], packet(i));
    expect(dropped).toEqual([1, 1]);
    expect(await drain(p.outgoingStream({ id: "c" }))).toEqual(["2", "3", "4"]);
    // aedes updates and acks packets it streamed before they were dropped: no error, nothing removed.
    await p.outgoingUpdate({ id: "c" }, { ...packet(0), messageId: 7 });
    expect(await p.outgoingClearMessageId({ id: "c" }, { messageId: 7 })).toBeUndefined();
    await p.outgoingUpdate({ id: "c" }, { ...packet(3), messageId: 9 });
    expect(await p.outgoingClearMessageId({ id: "c" }, { messageId: 9 })).toMatchObject({ brokerCounter: 3 });
    expect(p.queued.messages).toBe(2);
    await p.cleanSubscriptions({ id: "c" });
    expect(p.queued.messages).toBe(0);
  });
});
