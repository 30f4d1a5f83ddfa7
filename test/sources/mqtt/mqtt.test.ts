import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { contentId } from "../../../agent/record/ids.js";
import type { Reading } from "../../../agent/record/record.js";
import { mqttSourceSchema } from "../../../agent/sources/mqtt/config.js";
import { MAX_UNACKED } from "../../../agent/sources/mqtt/connection.js";
import { createMqttSource } from "../../../agent/sources/mqtt/index.js";
import type { Ingest, Source } from "../../../agent/sources/source.js";
import { captureLog } from "../../helpers/capture-log.js";
import { haveMosquitto, Mosquitto } from "../../helpers/mosquitto.js";
import { MqttWireProxy } from "../../helpers/mqtt-proxy.js";
import { QosPublisher } from "../../helpers/mqtt-publisher.js";
import { waitFor } from "../../helpers/recording-ingest.js";
import { SpoolIngest } from "../../helpers/spool-ingest.js";

describe.skipIf(!haveMosquitto)("mqtt source against Mosquitto", () => {
  let dir: string;
  let broker: Mosquitto;
  let store: SpoolIngest;
  const running: Source[] = [];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "edgespool-mqtt-"));
    broker = new Mosquitto(dir);
    await broker.start();
    store = new SpoolIngest();
  });

  afterEach(async () => {
    await Promise.all(running.splice(0).map((s) => s.stop()));
    await broker.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function startSource(
    extra: Record<string, unknown> = {},
    ingest: Ingest = store.ingest,
    log = store.log,
  ) {
    const cfg = mqttSourceSchema.parse({
      type: "mqtt",
      id: "upstream",
      url: broker.url,
      topics: ["sensors/#"],
      topicTemplate: "sensors/{room}/{sensor}/temperature",
      sensor: "{room}/{sensor}",
      reconnect: { initialMs: 50, maxMs: 400 },
      ...extra,
    });
    const src = createMqttSource(cfg, { ...store.context(ingest), log });
    running.push(src);
    await src.start();
    return src;
  }

  async function publish(topic: string, payload: string): Promise<void> {
    const c = await mqtt.connectAsync(broker.url, { clientId: `once-${Math.random()}` });
    await c.publishAsync(topic, payload, { qos: 1 });
    await c.endAsync();
  }

  const ids = () => store.records().map((r) => r.id);

  it("commits messages with the sensor from the topic template and counts bad ones", async () => {
    await startSource();
    await publish("sensors/kitchen/t1/temperature", '{"temperature":23.4,"humidity":41,"seq":7}');
    await publish("sensors/hall/t2/temperature", "19.5");
    await publish("sensors/hall/t2/temperature", "{not json");
    await publish("sensors/oddly/shaped", "20");
    expect(await waitFor(() => store.records().length === 2)).toBe(true);
    const recs = store.records();
    expect(recs.map((r) => [r.sensor, r.temperature, r.source])).toEqual([
      ["kitchen/t1", 23.4, "upstream"],
      ["hall/t2", 19.5, "upstream"],
    ]);
    expect(recs[0]!.humidity).toBe(41);
    expect(recs[0]!.id.startsWith("c")).toBe(true);
    expect(await store.rejected("upstream", "invalid-json")).toBe(1);
    expect(await store.rejected("upstream", "unknown-topic")).toBe(1);
  });

  it("does not acknowledge a message whose commit failed, so the broker redelivers it", async () => {
    let failures = 1;
    const flaky: Ingest = {
      submit: (source, readings: readonly Reading[]) =>
        failures-- > 0 ? Promise.reject(new Error("disk on fire")) : store.ingest.submit(source, readings),
      reject: (s, r, d) => store.ingest.reject(s, r, d),
    };
    const cap = captureLog();
    await startSource({}, flaky, cap.log);
    await publish("sensors/lab/t9/temperature", '{"temperature":30.5,"seq":1}');
    expect(await waitFor(() => store.records().length === 1)).toBe(true);
    expect(cap.count("message not committed; reconnecting")).toBe(1);
    expect(cap.count("mqtt reconnected")).toBe(1);
    await new Promise((r) => setTimeout(r, 200));
    expect(store.records().map((r) => r.temperature)).toEqual([30.5]);
  });

  it("sends each PUBACK only after its commit, in arrival order, and never on a later connection", async () => {
    const proxy = new MqttWireProxy(broker.port);
    await proxy.start();
    let held = true;
    const waiting: (() => void)[] = [];
    const gated: Ingest = {
      submit: (source, readings) =>
        held
          ? new Promise<void>((r) => waiting.push(r)).then(() => store.ingest.submit(source, readings))
          : store.ingest.submit(source, readings),
      reject: (s, r, d) => store.ingest.reject(s, r, d),
    };
    try {
      await startSource({ url: `mqtt://127.0.0.1:${proxy.port}`, clientId: "gated" }, gated);
      const pub = await mqtt.connectAsync(broker.url, { clientId: "gated-pub" });
      for (let i = 1; i <= 20; i++)
        await pub.publishAsync("sensors/g/t/temperature", `{"temperature":${i},"seq":${i}}`, { qos: 1 });
      expect(await waitFor(() => waiting.length === 20)).toBe(true);
      const pubacks = () => proxy.toBroker.filter((p) => p.type === 4).map((p) => p.id);
      expect(pubacks()).toEqual([]);
      const arrived = proxy.toClient.filter((p) => p.type === 3).map((p) => p.id);
      // Commits finish in reverse; the PUBACKs still follow the order the messages came in.
      for (const release of waiting.splice(0).reverse()) release();
      expect(await waitFor(() => pubacks().length === 20)).toBe(true);
      expect(pubacks()).toEqual(arrived);

      // Held again, the connection dies: those messages must be redelivered, not acked late.
      for (let i = 21; i <= 25; i++)
        await pub.publishAsync("sensors/g/t/temperature", `{"temperature":${i},"seq":${i}}`, { qos: 1 });
      expect(await waitFor(() => waiting.length === 5)).toBe(true);
      const before = pubacks().length;
      proxy.cut();
      for (const release of waiting.splice(0)) release();
      held = false;
      expect(await waitFor(() => pubacks().length === before + 5)).toBe(true);
      const redelivered = proxy.toClient.filter((p) => p.type === 3).length - 25;
      expect(redelivered).toBe(5);
      await pub.endAsync();
      // Each once (the redeliveries are duplicates by content id), in the order they were committed.
      const temps = store.records().map((r) => r.temperature);
      expect(temps.sort((a, b) => a - b)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    } finally {
      await proxy.stop();
    }
  });

  it("holds at most MAX_UNACKED messages awaiting commit while a large backlog replays", async () => {
    // Without an in-flight window the broker pushes the whole backlog; the source must hold back.
    broker.extra = ["max_inflight_messages 0"];
    await broker.restart();
    const first = await startSource({ clientId: "backlog" });
    await first.stop();
    const pub = await mqtt.connectAsync(broker.url, { clientId: "backlog-pub" });
    const total = MAX_UNACKED * 4;
    let next = 0;
    const lane = async () => {
      while (next < total) {
        const i = next++;
        await pub.publishAsync("sensors/b/t/temperature", `{"temperature":${i % 100},"seq":${i}}`, {
          qos: 1,
        });
      }
    };
    await Promise.all(Array.from({ length: 50 }, lane));
    await pub.endAsync();
    let held = true;
    let most = 0;
    const waiting: (() => void)[] = [];
    const gated: Ingest = {
      submit: (source, readings) => {
        if (!held) return store.ingest.submit(source, readings);
        most = Math.max(most, waiting.length + 1);
        return new Promise<void>((r) => waiting.push(r)).then(() => store.ingest.submit(source, readings));
      },
      reject: (s, r, d) => store.ingest.reject(s, r, d),
    };
    await startSource({ clientId: "backlog" }, gated);
    await waitFor(() => waiting.length >= MAX_UNACKED, 3000);
    await new Promise((r) => setTimeout(r, 200));
    // The one message read before the pause is the +1.
    expect(most).toBeLessThanOrEqual(MAX_UNACKED + 1);
    expect(most).toBeGreaterThan(MAX_UNACKED / 2);
    held = false;
    for (const release of waiting.splice(0)) release();
    expect(await waitFor(() => store.records().length === total, 20_000)).toBe(true);
  });

  it("keeps a persistent session: messages sent while the agent is away arrive after it returns", async () => {
    const first = await startSource({ clientId: "agent-1" });
    await publish("sensors/a/b/temperature", '{"temperature":1,"seq":1}');
    expect(await waitFor(() => store.records().length === 1)).toBe(true);
    await first.stop();
    for (let i = 2; i <= 40; i++) await publish("sensors/a/b/temperature", `{"temperature":${i},"seq":${i}}`);
    await startSource({ clientId: "agent-1" });
    expect(await waitFor(() => store.records().length === 40)).toBe(true);
    expect(store.records().map((r) => r.temperature)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
  });

  it("survives a Mosquitto restart mid-stream: every acknowledged message is stored exactly once", async () => {
    const cap = captureLog();
    await startSource({ clientId: "agent-restart" }, undefined, cap.log);
    const pub = new QosPublisher(broker.url, ["r1/t1", "r2/t2"], (s) => `sensors/${s}/temperature`, {
      maxInFlight: 8,
      pauseMs: 1,
    });
    pub.start();
    expect(await waitFor(() => pub.ackedCount > 200)).toBe(true);
    await broker.restart();
    expect(await waitFor(() => cap.count("mqtt reconnected") >= 1)).toBe(true);
    const after = pub.ackedCount;
    expect(await waitFor(() => pub.ackedCount > after + 200)).toBe(true);
    await pub.stop();

    // The content-derived id of each message the broker acknowledged to its publisher.
    const expected = [...pub.acked].flatMap(([sensor, seqs]) =>
      [...seqs].map((n) => contentId({ sensor, temperature: QosPublisher.temperature(n), deviceSeq: n })!),
    );
    expect(expected.length).toBeGreaterThan(400);
    let missing: string[] = [];
    await waitFor(() => {
      const have = new Set(ids());
      missing = expected.filter((k) => !have.has(k));
      return missing.length === 0;
    }, 20_000);
    expect(missing, `${missing.length} of ${expected.length} acknowledged messages missing`).toEqual([]);
    const stored = ids();
    expect(stored.length).toBe(new Set(stored).size);
    expect(cap.count("mqtt connection lost; reconnecting with backoff")).toBe(1);
  });
});

describe("mqtt source reconnect schedule", () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

  it("backs off exponentially with jitter up to the cap instead of a fixed period", async () => {
    const attempts: number[] = [];
    // A "broker" that hangs up at once: every connect fails, as when Mosquitto is down.
    server = createServer((sock) => {
      attempts.push(Date.now());
      sock.destroy();
    });
    await new Promise<void>((r) => server!.listen(0, "127.0.0.1", () => r()));
    const port = (server.address() as { port: number }).port;
    const store = new SpoolIngest();
    const cap = captureLog();
    const cfg = mqttSourceSchema.parse({
      type: "mqtt",
      id: "flappy",
      url: `mqtt://127.0.0.1:${port}`,
      topics: ["#"],
      reconnect: { initialMs: 40, maxMs: 320 },
    });
    const src = createMqttSource(cfg, { ...store.context(), log: cap.log });
    await src.start();
    await waitFor(() => attempts.length >= 9, 8000);
    await src.stop();
    await store.close();

    const gaps = attempts.slice(1).map((t, i) => t - attempts[i]!);
    // Attempt k waits in [50%, 100%] of min(320, 40·2^k): a lower bound that timers only lengthen,
    // and a cap checked on the median so a busy CI machine's timer lag does not decide the test.
    for (const [k, g] of gaps.entries()) expect(g).toBeGreaterThanOrEqual(Math.min(320, 40 * 2 ** k) / 2 - 5);
    const late = gaps.slice(4).sort((a, b) => a - b);
    expect(late[Math.floor(late.length / 2)]!).toBeLessThanOrEqual(320 + 80);
    expect(new Set(gaps.slice(4).map((g) => Math.round(g / 10))).size).toBeGreaterThan(1);
    expect(cap.count("mqtt cannot connect; retrying with backoff")).toBe(1);
  });
});
