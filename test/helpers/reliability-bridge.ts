import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import mqtt, { type MqttClient } from "mqtt";
import { contentId } from "../../agent/record/ids.js";
import { type AgentProcess, freePort, killHard, spawnAgent, tempDir, waitForPort } from "./agent-process.js";
import { FleetLoad, sleep } from "./reliability-load.js";

/**
 * The MQTT-bridge user's alternative, measured the way issue 6 asks: devices publish QoS1 to a
 * local relay (a Mosquitto bridge with persistence, or edgespool with its embedded broker and an
 * mqtt sink) that forwards to an upstream Mosquitto; the relay is SIGKILLed at random moments and
 * restarted. Counted at the upstream subscriber: readings the relay PUBACKed to a device that
 * never arrived (lost), and copies beyond the first (duplicates).
 */

export const MOSQUITTO = "/usr/sbin/mosquitto";

/** A Mosquitto process on a loopback port with a config of our own (extra lines: bridge, persistence). */
export class MosquittoProcess {
  private proc: ChildProcess | undefined;
  private exited: Promise<unknown> = Promise.resolve();

  constructor(
    readonly dir: string,
    readonly port: number,
    private readonly extra: string[] = [],
  ) {}

  async start(): Promise<void> {
    mkdirSync(join(this.dir, "db"), { recursive: true });
    const conf = join(this.dir, "mosquitto.conf");
    const lines = [
      `listener ${this.port} 127.0.0.1`,
      "allow_anonymous true",
      "max_queued_messages 0",
      ...(process.getuid?.() === 0 ? ["user root"] : []),
      "log_dest none",
      ...this.extra,
    ];
    writeFileSync(conf, `${lines.join("\n")}\n`);
    const proc = spawn(MOSQUITTO, ["-c", conf], { stdio: "ignore" });
    this.proc = proc;
    this.exited = new Promise((r) => proc.once("exit", r));
    await waitForPort(this.port, 10_000);
  }

  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const p = this.proc;
    this.proc = undefined;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    p.kill(signal);
    await this.exited;
  }
}

/** Ids as the upstream sees them: an edgespool record carries its id; a raw device payload gets the same content id. */
function idOf(payload: Buffer): string | undefined {
  try {
    const o = JSON.parse(payload.toString()) as Record<string, unknown>;
    if (typeof o.id === "string" && typeof o.agent === "string") return o.id;
    if (typeof o.sensor !== "string" || typeof o.temperature !== "number") return undefined;
    return contentId({
      sensor: o.sensor,
      temperature: o.temperature,
      deviceTs: typeof o.ts === "number" ? o.ts : undefined,
      deviceSeq: typeof o.seq === "number" ? o.seq : undefined,
    });
  } catch {
    return undefined;
  }
}

export interface BridgeOutcome {
  relay: "mosquitto" | "edgespool";
  kills: number;
  acked: number;
  unique: number;
  lost: number;
  duplicates: number;
}

export interface BridgeOptions {
  kills: number;
  ratePerSec: number;
  /** Mean time between kills. */
  intervalMs: number;
  /**
   * Take the upstream away before the second kill and bring it back after it: the case a bridge
   * with persistence exists for (the link is down, the relay holds a backlog, the power goes).
   */
  upstreamOutage: boolean;
  /** Mosquitto's autosave_interval in seconds (its default is 1800: save on shutdown or every 30 min). */
  autosaveSec?: number;
  seed?: number;
}

interface Relay {
  start(): Promise<void>;
  kill(): Promise<void>;
}

function mosquittoRelay(dir: string, port: number, upstream: number, autosaveSec: number | undefined): Relay {
  const m = new MosquittoProcess(dir, port, [
    "persistence true",
    `persistence_location ${join(dir, "db")}/`,
    ...(autosaveSec === undefined ? [] : [`autosave_interval ${autosaveSec}`]),
    "connection upstream",
    `address 127.0.0.1:${upstream}`,
    "topic sensors/# out 1",
    "cleansession false",
    "clientid relay-bridge",
    "restart_timeout 1",
    "bridge_protocol_version mqttv311",
  ]);
  return { start: () => m.start(), kill: () => m.kill() };
}

function edgespoolRelay(dir: string, port: number, upstream: number): Relay {
  const config = {
    agentId: "bridge",
    dataDir: join(dir, "data"),
    sources: [{ type: "mqtt-broker", id: "devices", port, topics: ["sensors/#"] }],
    sinks: [
      {
        type: "mqtt",
        id: "upstream",
        url: `mqtt://127.0.0.1:${upstream}`,
        topic: "edgespool/{sensor}",
        maxBufferAgeMs: 50,
        reconnect: { initialMs: 100, maxMs: 1000 },
        retry: { initialMs: 100, maxMs: 1000 },
      },
    ],
    http: { enabled: false },
  };
  let p: AgentProcess | undefined;
  return {
    async start() {
      p = spawnAgent(dir, config);
      await waitForPort(port, 30_000);
    },
    async kill() {
      if (p) await killHard(p);
    },
  };
}

export async function bridgeScenario(
  relay: BridgeOutcome["relay"],
  o: BridgeOptions,
): Promise<BridgeOutcome> {
  const dir = tempDir(`edgespool-bridge-${relay}-`);
  const upstreamPort = await freePort();
  const relayPort = await freePort();
  const upstreamDir = join(dir, "upstream");
  // Persistent, so the subscriber's session and queue survive the upstream's own outage.
  const upstream = new MosquittoProcess(upstreamDir, upstreamPort, [
    "persistence true",
    `persistence_location ${join(upstreamDir, "db")}/`,
  ]);
  await upstream.start();
  const received = new Map<string, number>();
  let sub: MqttClient | undefined;
  let load: FleetLoad | undefined;
  const r =
    relay === "mosquitto"
      ? mosquittoRelay(join(dir, "relay"), relayPort, upstreamPort, o.autosaveSec)
      : edgespoolRelay(dir, relayPort, upstreamPort);
  try {
    sub = await mqtt.connectAsync(`mqtt://127.0.0.1:${upstreamPort}`, {
      clientId: "upstream-sub",
      clean: false,
      reconnectPeriod: 100,
    });
    sub.on("message", (_t, payload) => {
      const id = idOf(payload);
      if (id !== undefined) received.set(id, (received.get(id) ?? 0) + 1);
    });
    await sub.subscribeAsync("#", { qos: 1 });
    await r.start();
    load = new FleetLoad({
      port: relayPort,
      rooms: 12,
      ratePerSec: o.ratePerSec,
      clients: 4,
      seed: o.seed ?? 11,
    });
    load.start();
    for (let k = 0; k < o.kills; k++) {
      const outage = o.upstreamOutage && k === 1;
      if (outage) await upstream.kill("SIGTERM");
      await sleep(o.intervalMs * (0.5 + Math.random()));
      await r.kill();
      await r.start();
      if (outage) await upstream.start();
    }
    await sleep(1000);
    await load.stop();
    // Settle: the relay forwards what it still holds; stop once nothing new arrived for 2 s.
    let last = -1;
    let stableSince = Date.now();
    const until = Date.now() + 30_000;
    while (Date.now() < until) {
      const missing = [...load.acked.keys()].filter((id) => !received.has(id)).length;
      if (missing === 0) break;
      if (received.size !== last) {
        last = received.size;
        stableSince = Date.now();
      } else if (Date.now() - stableSince > 3000) break;
      await sleep(200);
    }
    const acked = [...load.acked.keys()];
    const lost = acked.filter((id) => !received.has(id)).length;
    let duplicates = 0;
    for (const n of received.values()) duplicates += n - 1;
    return { relay, kills: o.kills, acked: acked.length, unique: received.size, lost, duplicates };
  } finally {
    await load?.stop(0);
    await sub?.endAsync(true).catch(() => undefined);
    await r.kill();
    await upstream.kill("SIGTERM");
  }
}
