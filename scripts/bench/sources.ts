import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt, { type MqttClient } from "mqtt";
import { SerialPort } from "serialport";
import { createIngest } from "../../agent/pipeline/ingest.js";
import { mqttSourceSchema } from "../../agent/sources/mqtt/config.js";
import { createMqttSource } from "../../agent/sources/mqtt/index.js";
import { serialSourceSchema } from "../../agent/sources/serial/config.js";
import { createSerialSource } from "../../agent/sources/serial/index.js";
import type { Source, SourceContext } from "../../agent/sources/source.js";
import { openSpool } from "../../agent/spool/index.js";
import type { SpoolApi } from "../../agent/spool/types.js";
import { silentLogger } from "../../agent/telemetry/logger.js";
import { Telemetry } from "../../agent/telemetry/telemetry.js";
// The socat and Mosquitto harnesses the source tests use; the bench needs the same real parts.
import { haveMosquitto, Mosquitto } from "../../test/helpers/mosquitto.js";
import { haveSocat, PtyPair } from "../../test/helpers/socat-pty.js";
import type { Bench, BenchRow } from "./types.js";

/**
 * Serial: lines parsed and committed by the serial source against the raw line rate of the same
 * socat PTY read by a bare serialport reader. MQTT: a QoS1 backlog queued by Mosquitto for a
 * persistent session, drained by the mqtt source (commit, then PUBACK) against the same backlog
 * drained by a plain mqtt.js subscriber. Same process, same run.
 */

const MiB = 2 ** 20;
const T0 = Date.UTC(2026, 10, 22);

function line(i: number): string {
  return `{"sensor":"bench/${i % 64}","temperature":${20 + (i % 100) / 10},"humidity":${40 + (i % 30)},"ts":${T0 + i}}\n`;
}

class Store {
  readonly dir = mkdtempSync(join(tmpdir(), "edgespool-bench-src-"));
  readonly telemetry = new Telemetry(silentLogger());
  readonly spool: SpoolApi;
  readonly ctx: SourceContext;
  private readonly ingest;
  constructor() {
    this.spool = openSpool({
      dir: join(this.dir, "data"),
      sync: "normal",
      maxBytes: 4096 * MiB,
      maxAgeMs: 1e12,
      onFull: "drop-oldest",
      telemetry: this.telemetry,
    });
    this.spool.setSinks(["out"]);
    this.ingest = createIngest(this.spool, this.telemetry, { agentId: "bench", maxCommitRecords: 5000 });
    const log = silentLogger();
    this.ctx = { agentId: "bench", dataDir: this.dir, ingest: this.ingest, log, telemetry: this.telemetry };
  }
  /** Records committed so far, from the telemetry counter (spool.stats() is too heavy to poll). */
  async committed(): Promise<number> {
    return (await this.telemetry.spooled.get()).values[0]?.value ?? 0;
  }
  async until(n: number, timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs;
    while ((await this.committed()) < n) {
      if (Date.now() > end) throw new Error(`only ${await this.committed()} of ${n} committed`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  async close(): Promise<void> {
    await this.ingest.close();
    this.spool.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function peakSampler(): { stop(): number } {
  let peak = process.memoryUsage().rss;
  const t = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 50);
  return {
    stop() {
      clearInterval(t);
      return peak / MiB;
    },
  };
}

async function serialRates(total: number): Promise<{ raw: number; source: number; rss: number }> {
  const dir = mkdtempSync(join(tmpdir(), "edgespool-bench-pty-"));
  const pty = new PtyPair(join(dir, "device"), join(dir, "sensor"));
  const data = Buffer.from(Array.from({ length: total }, (_, i) => line(i)).join(""));
  try {
    await pty.start();
    // Raw: count newlines from a bare serialport reader.
    const port = new SerialPort({ path: pty.device, baudRate: 115200, autoOpen: false });
    await new Promise<void>((res, rej) => port.open((e) => (e ? rej(e) : res())));
    let seen = 0;
    const rawDone = new Promise<void>((res) =>
      port.on("data", (chunk: Buffer) => {
        for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) seen++;
        if (seen >= total) res();
      }),
    );
    let t = performance.now();
    await pty.write(data);
    await rawDone;
    const raw = total / ((performance.now() - t) / 1000);
    await new Promise<void>((res) => port.close(() => res()));

    const store = new Store();
    const cfg = serialSourceSchema.parse({ type: "serial", id: "bench", path: pty.device, baudRate: 115200 });
    const src: Source = createSerialSource(cfg, store.ctx);
    const rss = peakSampler();
    try {
      await src.start();
      t = performance.now();
      await pty.write(data);
      await store.until(total, 120_000);
      const source = total / ((performance.now() - t) / 1000);
      return { raw, source, rss: rss.stop() };
    } finally {
      rss.stop();
      await src.stop();
      await store.close();
    }
  } finally {
    await pty.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Queues `total` QoS1 messages for the offline persistent session `clientId`. */
async function backlog(url: string, clientId: string, total: number): Promise<void> {
  const sub = await mqtt.connectAsync(url, { clientId, clean: false, reconnectPeriod: 0 });
  await sub.subscribeAsync("bench/#", { qos: 1 });
  await sub.endAsync();
  await publishLines(url, `${clientId}-pub`, total);
}

async function mqttRates(total: number): Promise<{ relay: number; source: number; rss: number }> {
  const dir = mkdtempSync(join(tmpdir(), "edgespool-bench-mosq-"));
  const broker = new Mosquitto(dir);
  let sub: MqttClient | undefined;
  try {
    await broker.start();
    // Baseline: a plain mqtt.js subscriber draining the same kind of backlog (it acks on receipt).
    await backlog(broker.url, "plain", total);
    let got = 0;
    let t = performance.now();
    sub = mqtt.connect(broker.url, { clientId: "plain", clean: false, reconnectPeriod: 0 });
    await new Promise<void>((res) =>
      sub!.on("message", () => {
        if (++got === total) res();
      }),
    );
    const relay = total / ((performance.now() - t) / 1000);
    await sub.endAsync();
    sub = undefined;

    const store = new Store();
    const cfg = mqttSourceSchema.parse({
      type: "mqtt",
      id: "bench",
      url: broker.url,
      clientId: "agent",
      topics: ["bench/#"],
    });
    const first: Source = createMqttSource(cfg, store.ctx);
    await first.start();
    await first.stop();
    await backlogFor(broker.url, total);
    const src: Source = createMqttSource(cfg, store.ctx);
    const rss = peakSampler();
    try {
      t = performance.now();
      await src.start();
      await store.until(total, 300_000);
      const source = total / ((performance.now() - t) / 1000);
      return { relay, source, rss: rss.stop() };
    } finally {
      rss.stop();
      await src.stop();
      await store.close();
    }
  } finally {
    await sub?.endAsync(true);
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Publishes a backlog for the agent's session (created by its first start). */
async function backlogFor(url: string, total: number): Promise<void> {
  await publishLines(url, "agent-feeder", total);
}

/** Publishes lines 0..total-1 at QoS1 from one client, 200 in flight; resolves when all are PUBACKed. */
async function publishLines(url: string, clientId: string, total: number): Promise<void> {
  const pub = await mqtt.connectAsync(url, { clientId, reconnectPeriod: 0 });
  let next = 0;
  const lane = async () => {
    while (next < total) {
      const i = next++;
      await pub.publishAsync(`bench/${i % 64}`, line(i), { qos: 1 });
    }
  };
  await Promise.all(Array.from({ length: 200 }, lane));
  await pub.endAsync();
}

export const run: Bench = async ({ quick }) => {
  const rows: BenchRow[] = [];
  if (!haveSocat) rows.push({ name: "serial: skipped (socat not installed)", value: Number.NaN, unit: "" });
  else {
    const n = quick ? 20_000 : 200_000;
    await serialRates(2000); // warm-up: JIT, SQLite page cache
    const s = await serialRates(n);
    rows.push({
      name: "serial lines parsed + committed (lines/s)",
      value: s.source,
      unit: "lines/s",
      baselineName: "raw newline count, bare serialport reader, same PTY",
      baseline: s.raw,
      ratio: s.source / s.raw,
      peakRssMiB: s.rss,
      note: `${n} JSON lines through a socat PTY pair, content ids, real spool`,
    });
  }
  if (!haveMosquitto)
    rows.push({ name: "mqtt: skipped (mosquitto not installed)", value: Number.NaN, unit: "" });
  else {
    const n = quick ? 20_000 : 100_000;
    await mqttRates(2000); // warm-up
    const m = await mqttRates(n);
    rows.push({
      name: "mqtt source QoS1 backlog drain, ack after commit (msg/s)",
      value: m.source,
      unit: "msg/s",
      baselineName: "Mosquitto relay of the same backlog to a plain mqtt.js subscriber",
      baseline: m.relay,
      ratio: m.source / m.relay,
      peakRssMiB: m.rss,
      note: `${n} queued QoS1 messages, persistent session, real spool`,
    });
  }
  return rows;
};
