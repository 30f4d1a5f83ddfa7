import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { MqttClient } from "mqtt";
import { afterEach, describe, expect, it } from "vitest";
import { silentLogger } from "../../../agent/telemetry/logger.js";
import { Telemetry } from "../../../agent/telemetry/telemetry.js";
import { connectPublishers, publishWindowed } from "../../helpers/mqtt-publisher.js";
import { waitFor } from "../../helpers/recording-ingest.js";
import { connect, context, InstantIngest, refusedCount, startBroker, suback } from "./helpers.js";

/**
 * The broker's memory stays flat whatever clients do: a persistent session that subscribed to
 * everything and went away, retained messages on ever new topics, ever new persistent sessions.
 */

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

const open: { stop(): Promise<void> }[] = [];
const clients: MqttClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
  await Promise.all(open.splice(0).map((s) => s.stop()));
});

async function broker(overrides: Record<string, unknown> = {}) {
  const telemetry = new Telemetry(silentLogger());
  const src = await startBroker(context(new InstantIngest(), telemetry), { subscribe: ["#"], ...overrides });
  open.push(src);
  return { telemetry, src };
}

function settle(): { heap: number; rss: number } {
  for (let i = 0; i < 3; i++) gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, rss: m.rss };
}

const MiB = 1024 * 1024;
const READINGS = 200_000;
const payload = (i: number) => `{"sensor":"room-${i % 50}","temperature":${20 + (i % 70) / 10},"seq":${i}}`;

/** Publishes READINGS QoS1 readings from 4 devices and returns the memory grown (after GC). */
async function run(lurker: boolean) {
  const { telemetry, src } = await broker();
  if (lurker) {
    const l = await connect(src.port, { clientId: "lurker", clean: false });
    await l.subscribeAsync("#", { qos: 1 });
    await l.endAsync();
  }
  const pubs = await connectPublishers(src.port, 4, lurker ? "with" : "without");
  clients.push(...pubs);
  const before = settle();
  await publishWindowed(pubs, READINGS, 64, "sensors/room/temperature", payload);
  const after = settle();
  return { telemetry, src, heap: after.heap - before.heap, rss: after.rss - before.rss };
}

describe("mqtt-broker memory bounds", () => {
  it("keeps memory flat with a lurking persistent subscriber to #", async () => {
    const base = await run(false);
    await Promise.all(open.splice(0).map((s) => s.stop()));
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
    const lurk = await run(true);
    const f = (b: number) => `${(b / MiB).toFixed(1)} MiB`;
    console.log(
      `${READINGS} readings: without lurker heap ${f(base.heap)} rss ${f(base.rss)}; ` +
        `with lurker heap ${f(lurk.heap)} rss ${f(lurk.rss)}`,
    );
    // Its queue holds the newest limits.maxQueuedMessages (1000 by default); the rest were
    // dropped oldest-first and counted.
    expect(await refusedCount(lurk.telemetry, "queue-dropped")).toBe(READINGS - 1000);
    // Unbounded, the lurker's queue alone kept about 48 MiB of heap at this count (RSS +72 MiB).
    expect(lurk.heap - base.heap).toBeLessThan(16 * MiB);

    const back = await connect(lurk.src.port, { clientId: "lurker", clean: false });
    clients.push(back);
    const seqs: number[] = [];
    back.on("message", (_t, p) => seqs.push((JSON.parse(p.toString()) as { seq: number }).seq));
    expect(await waitFor(() => seqs.length >= 1000)).toBe(true);
    expect(seqs).toHaveLength(1000);
  }, 300_000);

  it("caps persistent sessions, subscriptions and retained messages, counting what it refuses", async () => {
    const { telemetry, src } = await broker({
      limits: { maxSessions: 2, maxSubscriptions: 2, maxRetained: 3 },
    });
    for (const id of ["s1", "s2"]) {
      const c = await connect(src.port, { clientId: id, clean: false });
      expect(await suback(c, { a: { qos: 1 }, b: { qos: 1 }, c: { qos: 1 } })).toEqual([1, 1, 128]);
      await c.endAsync();
    }
    expect(await refusedCount(telemetry, "subscription-limit")).toBe(2);
    // A third persistent session is refused at CONNECT; a known one and clean sessions are not.
    await expect(connect(src.port, { clientId: "s3", clean: false })).rejects.toThrow(/server unavailable/i);
    clients.push(await connect(src.port, { clientId: "s1", clean: false }));
    const pub = await connect(src.port, { clientId: "pub" });
    clients.push(pub);
    expect(await refusedCount(telemetry, "session-limit")).toBe(1);

    for (let i = 0; i < 5; i++)
      await pub.publishAsync(`r/${i}`, `{"sensor":"r","temperature":${i}}`, { qos: 1, retain: true });
    expect(await refusedCount(telemetry, "retained-limit")).toBe(2);
    const sub = await connect(src.port, { clientId: "sub" });
    clients.push(sub);
    const retained: string[] = [];
    sub.on("message", (t, _p, packet) => {
      if (packet.retain) retained.push(t);
    });
    await sub.subscribeAsync("r/#", { qos: 1 });
    expect(await waitFor(() => retained.length >= 3)).toBe(true);
    expect(retained.sort()).toEqual(["r/0", "r/1", "r/2"]);
  });
});
