import type { MqttClient } from "mqtt";
import { afterEach, describe, expect, it } from "vitest";
import type { MqttBrokerSource } from "../../../agent/sources/mqtt-broker/index.js";
import { silentLogger } from "../../../agent/telemetry/logger.js";
import { Telemetry } from "../../../agent/telemetry/telemetry.js";
import { RecordingIngest, waitFor } from "../../helpers/recording-ingest.js";
import { connect, context, GatedIngest, rejectedCount, sleep, startBroker } from "./helpers.js";

const open: { stop(): Promise<void> }[] = [];
const clients: MqttClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
  await Promise.all(open.splice(0).map((s) => s.stop()));
});

async function setup(overrides: Record<string, unknown> = {}) {
  const telemetry = new Telemetry(silentLogger());
  const recording = new RecordingIngest();
  const ingest = new GatedIngest(recording, telemetry);
  const src = await startBroker(context(ingest, telemetry), overrides);
  open.push(src);
  return { telemetry, recording, ingest, src };
}

async function client(src: MqttBrokerSource, opts = {}): Promise<MqttClient> {
  const c = await connect(src.port, opts);
  clients.push(c);
  return c;
}

describe("mqtt-broker source", () => {
  it("takes a QoS1 publish into the ingest, sensor from the topic template", async () => {
    const { recording, src, telemetry } = await setup({
      topics: ["sensors/#"],
      topicTemplate: "sensors/{room}/{sensor}/temperature",
    });
    expect(src.port).toBeGreaterThan(0);
    expect(telemetry.health.snapshot().components).toContainEqual(
      expect.objectContaining({ kind: "source", name: "broker", ok: true }),
    );
    const c = await client(src);
    await c.publishAsync(
      "sensors/kitchen/t1/temperature",
      '{"temperature":23.4,"humidity":41,"ts":1763774400123}',
      {
        qos: 1,
      },
    );
    expect(recording.readings).toEqual([
      {
        source: "broker",
        reading: { sensor: "kitchen/t1", temperature: 23.4, humidity: 41, deviceTs: 1763774400123 },
      },
    ]);
    // QoS 0 goes the same way, just without an ack.
    await c.publishAsync("sensors/hall/t2/temperature", "19.5", { qos: 0 });
    expect(await waitFor(() => recording.readings.length === 2)).toBe(true);
    expect(recording.readings[1]!.reading).toEqual({ sensor: "hall/t2", temperature: 19.5 });
    // QoS 2 is handled as at-least-once into the ingest: PUBREC after the commit.
    await c.publishAsync("sensors/loft/t3/temperature", '{"temperature":18}', { qos: 2 });
    expect(recording.readings[2]!.reading).toEqual({ sensor: "loft/t3", temperature: 18 });
  });

  it("withholds PUBACK until the ingest has committed", async () => {
    const { ingest, recording, src } = await setup();
    ingest.held = true;
    const c = await client(src);
    let acked = false;
    const pub = c.publishAsync("t/a", '{"sensor":"a","temperature":20}', { qos: 1 }).then(() => {
      acked = true;
    });
    expect(await waitFor(() => ingest.waitingCount === 1)).toBe(true);
    await sleep(300);
    expect(acked).toBe(false);
    expect(recording.readings).toHaveLength(0);
    ingest.release();
    await pub;
    expect(acked).toBe(true);
    expect(recording.readings).toHaveLength(1);
  });

  it("acks and relays in publish order even when commits finish out of order, rejects included", async () => {
    const { ingest, src } = await setup({ subscribe: ["t/#"] });
    ingest.shuffle = true;
    const sub = await client(src);
    const delivered: number[] = [];
    await sub.subscribeAsync("t/#", { qos: 1 });
    sub.on("message", (_t, payload) => delivered.push(JSON.parse(payload.toString()).seq as number));
    const pub = await client(src);
    const acks: number[] = [];
    const n = 300;
    const sends: Promise<unknown>[] = [];
    for (let i = 0; i < n; i++) {
      // Every 7th message is bad: acked (in its place) but neither stored nor relayed.
      const body =
        i % 7 === 3 ? `{"seq":${i},"temperature":"hot"}` : `{"sensor":"s","temperature":20,"seq":${i}}`;
      sends.push(pub.publishAsync("t/x", body, { qos: 1 }).then(() => acks.push(i)));
    }
    await Promise.all(sends);
    expect(acks).toEqual(Array.from({ length: n }, (_, i) => i));
    const good = Array.from({ length: n }, (_, i) => i).filter((i) => i % 7 !== 3);
    expect(await waitFor(() => delivered.length >= good.length)).toBe(true);
    expect(delivered).toEqual(good);
    expect(ingest.committed.map((r) => r.deviceSeq)).toHaveLength(good.length);
  });

  it("counts bad input by reason, keeps the client connected, and lets good messages through", async () => {
    const { telemetry, recording, src } = await setup({ topics: ["sensors/#"] });
    const c = await client(src);
    let closed = false;
    c.on("close", () => {
      closed = true;
    });
    const good = (i: number) => c.publishAsync("sensors/a", `{"sensor":"a","temperature":${i}}`, { qos: 1 });
    const bad: [string, string | Buffer, string][] = [
      ["sensors/a", "{not json", "invalid-json"],
      ["sensors/a", '{"sensor":"a","temperature":"warm"}', "wrong-type"],
      ["sensors/a", '{"sensor":"a","temperature":NaN}', "invalid-json"],
      ["sensors/a", '{"sensor":"a","temperature":"NaN"}', "not-finite"],
      ["sensors/a", '{"sensor":"a","temperature":1e999}', "not-finite"],
      ["sensors/a", "", "empty"],
      ["sensors/a", Buffer.from([0xff, 0xfe, 0x00, 0x80, 0xc3]), "invalid-utf8"],
      ["sensors/a", '{"sensor":"a"}', "missing-field"],
      ["sensors/a", '{"sensor":"a","temperature":900}', "out-of-range"],
      ["other/topic", '{"sensor":"a","temperature":20}', "unknown-topic"],
      ["$SYS/x", '{"sensor":"a","temperature":20}', "unknown-topic"],
    ];
    let i = 0;
    for (const [topic, payload, _reason] of bad) {
      await good(i++);
      await c.publishAsync(topic, payload, { qos: 1 });
    }
    await good(i++);
    expect(closed).toBe(false);
    expect(c.connected).toBe(true);
    expect(recording.readings.map((r) => r.reading.temperature)).toEqual(
      Array.from({ length: i }, (_, k) => k),
    );
    const expected = new Map<string, number>();
    for (const [, , reason] of bad) expected.set(reason, (expected.get(reason) ?? 0) + 1);
    for (const [reason, count] of expected) expect(await rejectedCount(telemetry, reason)).toBe(count);
  });

  it("acks an oversized PUBLISH without buffering it, counts it, and keeps the client connected", async () => {
    const { telemetry, recording, src } = await setup({ maxPacketSize: 1024 });
    const c = await client(src);
    let closed = false;
    c.on("close", () => {
      closed = true;
    });
    const acks: string[] = [];
    const sends = [
      c.publishAsync("t/a", '{"sensor":"a","temperature":20}', { qos: 1 }).then(() => acks.push("a")),
      c.publishAsync("t/big", Buffer.alloc(4 * 1024 * 1024, 0x20), { qos: 1 }).then(() => acks.push("big")),
      c.publishAsync("t/b", '{"sensor":"b","temperature":21}', { qos: 1 }).then(() => acks.push("b")),
      c.publishAsync("t/big0", Buffer.alloc(2000, 0x20), { qos: 0 }),
      c.publishAsync("t/c", '{"sensor":"c","temperature":22}', { qos: 1 }).then(() => acks.push("c")),
    ];
    await Promise.all(sends);
    expect(acks).toEqual(["a", "big", "b", "c"]);
    expect(recording.readings.map((r) => r.reading.sensor)).toEqual(["a", "b", "c"]);
    expect(await rejectedCount(telemetry, "too-large")).toBe(2);
    expect(closed).toBe(false);
  });

  it("closes a client whose non-PUBLISH packet is over maxPacketSize, and serves others", async () => {
    const { telemetry, recording, src } = await setup({ maxPacketSize: 1024 });
    const bystander = await client(src);
    const big = await client(src);
    const gone = new Promise<void>((resolve) => big.once("close", () => resolve()));
    big.subscribe(`x/${"y".repeat(3000)}`, { qos: 1 });
    await gone;
    expect(await rejectedCount(telemetry, "too-large")).toBe(1);
    await bystander.publishAsync("t/ok", '{"sensor":"a","temperature":20}', { qos: 1 });
    expect(recording.readings.map((r) => r.reading.sensor)).toEqual(["a"]);
  });

  it("does not relay or retain a refused message", async () => {
    const { src } = await setup({ subscribe: ["r/#"] });
    const pub = await client(src);
    await pub.publishAsync("r/x", "garbage", { qos: 1, retain: true });
    await pub.publishAsync("r/x", '{"sensor":"a","temperature":20}', { qos: 1, retain: true });
    await pub.publishAsync("r/y", "garbage", { qos: 1, retain: true });
    const sub = await client(src);
    const got: string[] = [];
    sub.on("message", (t, p) => got.push(`${t} ${p.toString()}`));
    await sub.subscribeAsync("r/#", { qos: 1 });
    await pub.publishAsync("r/x", "more garbage", { qos: 1 });
    await pub.publishAsync("r/z", '{"sensor":"z","temperature":1}', { qos: 1 });
    expect(await waitFor(() => got.length >= 2)).toBe(true);
    await sleep(100);
    expect(got).toEqual(['r/x {"sensor":"a","temperature":20}', 'r/z {"sensor":"z","temperature":1}']);
  });

  it("requires the configured username and password", async () => {
    const { recording, src } = await setup({ auth: { username: "dev", password: "s3cret" } });
    await expect(connect(src.port, { username: "dev", password: "wrong" })).rejects.toThrow(
      /username or password/i,
    );
    await expect(connect(src.port)).rejects.toThrow(/username or password/i);
    const c = await client(src, { username: "dev", password: "s3cret" });
    await c.publishAsync("t", '{"sensor":"a","temperature":20}', { qos: 1 });
    expect(recording.readings).toHaveLength(1);
  });

  it("applies per-user publish ACLs, counting what they refuse", async () => {
    const { telemetry, recording, src } = await setup({
      auth: [
        { username: "alice", password: "pw-a", topics: ["sensors/{username}/#", "dev/{clientId}"] },
        { username: "bob", password: "pw-b" },
      ],
    });
    await expect(connect(src.port, { username: "alice", password: "pw-b" })).rejects.toThrow(
      /username or password/i,
    );
    const alice = await client(src, { username: "alice", password: "pw-a", clientId: "node-7" });
    const bob = await client(src, { username: "bob", password: "pw-b" });
    const body = (s: string) => `{"sensor":"${s}","temperature":20}`;
    await alice.publishAsync("sensors/alice/t", body("a1"), { qos: 1 });
    await alice.publishAsync("sensors/bob/t", body("a2"), { qos: 1 });
    await alice.publishAsync("dev/node-7", body("a3"), { qos: 1 });
    await alice.publishAsync("dev/node-8", body("a4"), { qos: 1 });
    await bob.publishAsync("sensors/alice/t", body("b1"), { qos: 1 });
    expect(recording.readings.map((r) => r.reading.sensor)).toEqual(["a1", "a3", "b1"]);
    expect(await rejectedCount(telemetry, "not-authorized")).toBe(2);
    expect(alice.connected).toBe(true);
  });

  it("stop() disconnects clients and frees the port", async () => {
    const { src } = await setup();
    const c = await client(src);
    const closed = new Promise<void>((resolve) => c.once("close", () => resolve()));
    await src.stop();
    await closed;
    await expect(connect(src.port)).rejects.toThrow();
    await src.stop();
  });
});
