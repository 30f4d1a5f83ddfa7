import { mkdirSync, openSync } from "node:fs";
import { Command, InvalidArgumentError } from "commander";
import { ConfigError, validateConfig } from "../agent/config/load.js";
import { type AgentHandle, startAgent } from "../agent/runtime.js";
import type { MqttBrokerSource } from "../agent/sources/mqtt-broker/index.js";
import { createLogger } from "../agent/telemetry/logger.js";
import { parseFaultSpec } from "../simulator/faults.js";
import { createFleet } from "../simulator/fleet.js";
import { createMqttOutput } from "../simulator/outputs/mqtt.js";
import { runFleet } from "../simulator/run.js";
import { demoConfig } from "./demo/config.js";
import { AgentProbe, LiveRooms } from "./demo/live.js";
import { renderDashboard, renderLine } from "./demo/view.js";

/**
 * `npm start`: the agent on config/default.json, a simulated house of a dozen rooms publishing
 * into its embedded broker, and a live view of what flows through, refreshed every second.
 */

const program = new Command("npm start --")
  .option("--speed <x>", "simulated seconds per second", (v) => positive(v), 60)
  .option("--rooms <n>", "rooms in the simulated house", (v) => Math.round(positive(v)), 12)
  .option("--interval <s>", "seconds (simulated) between readings of a thermometer", (v) => positive(v), 10)
  .option(
    "--faults <spec>",
    "fault rates",
    "dropout=0.01,duplicate=0.01,malformed=0.004,spike=0.002,reorder=0.005",
  )
  .option("--seed <n>", "seed of the simulated house", (v) => Math.round(positive(v)), 1)
  .option("--plain", "one line per second even on a terminal", false);

function positive(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError("expected a number > 0");
  return n;
}

async function main(): Promise<number> {
  const opts = program
    .parse()
    .opts<{ speed: number; rooms: number; interval: number; faults: string; seed: number; plain: boolean }>();
  const { raw, notes } = await demoConfig();
  const config = validateConfig(raw, "config/default.json");
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const logFile = `${config.dataDir}/demo.log`;
  const log = createLogger({ level: config.log.level, pretty: false, destination: openSync(logFile, "a") });
  const handle: AgentHandle = await startAgent(config, { log });
  const source = handle.sources.find((s) => s.type === "mqtt-broker") as MqttBrokerSource;
  const sourceCfg = config.sources.find((s) => s.id === source.id);
  const topic = sourceCfg?.type === "mqtt-broker" ? sourceCfg.topicTemplate : undefined;
  const brokerUrl = `mqtt://127.0.0.1:${source.port}`;

  const fleet = createFleet({
    seed: opts.seed,
    start: Date.now(),
    rooms: opts.rooms,
    intervalMs: opts.interval * 1000,
    humidity: true,
    faults: parseFaultSpec(opts.faults),
  });
  const output = createMqttOutput({
    url: brokerUrl,
    topic: topic ?? "sensors/{room}/{sensor}/temperature",
    qos: 1,
    clients: "device",
    devices: fleet.devices,
    clientIdPrefix: "demo",
  });
  await output.open();
  const rooms = new LiveRooms(fleet);
  const probe = new AgentProbe(handle);
  const shippedBefore = new Map(handle.stats().sinks.map((k) => [k.sink, k.shipped]));
  const ac = new AbortController();
  const running = runFleet(fleet, output, { speed: opts.speed, signal: ac.signal, onEvent: rooms.onEvent });

  const pageUrl = handle.http ? `${handle.http.url}/` : undefined;
  const tty = process.stdout.isTTY === true && !opts.plain;
  const note = notes.join("; ") || undefined;
  if (!tty) {
    if (note) process.stdout.write(`demo: ${note}\n`);
    process.stdout.write(
      `demo: agent ${config.agentId}, broker ${brokerUrl}, ${fleet.rooms.length} simulated rooms at ×${opts.speed}${pageUrl ? `, status page ${pageUrl}` : ""}; Ctrl-C stops\n`,
    );
  }
  if (tty) process.stdout.write("\u001b[?1049h\u001b[?25l");
  const frame = async () => {
    const snap = {
      ...(await probe.read()),
      brokerUrl,
      pageUrl,
      note,
      simTime: fleet.now,
      speed: opts.speed,
      intervalMs: opts.interval * 1000,
      outsideC: fleet.outside.temperature(fleet.now),
      rooms: rooms.snapshot(),
    };
    if (tty)
      process.stdout.write(
        `\u001b[H${renderDashboard(snap, { color: true, width: process.stdout.columns ?? 80 }).replaceAll("\n", "\u001b[K\n")}\u001b[J`,
      );
    else process.stdout.write(`${renderLine(snap)}\n`);
  };
  const timer = setInterval(() => void frame().catch(() => undefined), 1000);
  await frame();

  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  clearInterval(timer);
  // A second Ctrl-C while shutting down leaves at once.
  process.once("SIGINT", () => process.exit(130));
  ac.abort();
  const res = await running;
  await output.close();
  // Let the sinks catch up for a moment so the summary shows everything shipped.
  for (let i = 0; i < 30 && handle.stats().sinks.some((k) => k.depth > 0); i++)
    await new Promise((r) => setTimeout(r, 100));
  const final = await probe.read();
  await handle.stop();
  if (tty) process.stdout.write("\u001b[?25h\u001b[?1049l");
  process.stdout.write(
    `edgespool demo stopped: ${res.messages} messages sent, ${final.inTotal} readings accepted, ` +
      `${final.sinks.map((s) => `${s.shipped - (shippedBefore.get(s.id) ?? 0)} shipped to ${s.id}`).join(", ")}; output in ${config.dataDir}/out, log in ${logFile}\n`,
  );
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stdout.write("\u001b[?25h");
    process.stderr.write(
      err instanceof ConfigError ? `${err.message}\n` : `demo failed: ${(err as Error).stack ?? err}\n`,
    );
    process.exitCode = 1;
  },
);
