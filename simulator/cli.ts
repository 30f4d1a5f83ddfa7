import { Command, InvalidArgumentError, Option } from "commander";
import { FAULT_KINDS, type FaultRates, parseFaultSpec } from "./faults.js";
import { createFleet, DEFAULT_FLEET } from "./fleet.js";
import { FORMATS, type Format } from "./formats.js";
import { createOutput, type OutputSpec } from "./outputs/index.js";
import { runFleet } from "./run.js";
import { createTruthWriter } from "./truth.js";

/** `edgespool sim`: the fleet simulator's command line; the library does the work. */

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/.exec(v.trim());
  if (!m) throw new InvalidArgumentError(`expected a duration like 500ms, 10s, 5m, 2h, 1d`);
  return Math.round(Number(m[1]) * (UNITS[m[2] ?? "ms"] ?? 1));
}

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError("expected a positive integer");
  return n;
}

function rate(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError("expected a rate >= 0");
  return n;
}

function speed(v: string): number {
  if (v === "max") return Number.POSITIVE_INFINITY;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a factor > 0 or "max"');
  return n;
}

function clients(v: string): number | "device" {
  if (v === "device") return "device";
  return positiveInt(v);
}

function camel(kind: string): string {
  return `fault${kind.replace(/(^|-)([a-z])/g, (_, __, c: string) => c.toUpperCase())}`;
}

interface Opts {
  seed: number;
  start?: string;
  speed: number;
  interval: number;
  rooms: number;
  sensorsPerRoom: number;
  count?: number;
  duration?: number;
  output: OutputSpec["kind"];
  url: string;
  topic: string;
  qos: string;
  clients?: number | "device";
  username?: string;
  password?: string;
  port?: string;
  baud: number;
  file?: string;
  format: Format;
  humidity: boolean;
  hot: boolean;
  faults?: string;
  oversizeBytes: number;
  outsideMean: number;
  tz: number;
  truth?: string;
  quiet: boolean;
}

type FaultOpts = Partial<Record<`fault${string}`, number>>;

export function simCommand(): Command {
  const cmd = new Command("sim")
    .description("simulate a fleet of room thermometers: physics, faults, and a ground-truth log")
    .option(
      "--seed <n>",
      "seed: the same seed and --start give the same output",
      positiveInt,
      DEFAULT_FLEET.seed,
    )
    .option("--start <iso>", "simulated start time (default: now)")
    .option("--speed <x>", 'simulated seconds per second, or "max"', speed, 1)
    .addOption(
      new Option("--interval <duration>", "reporting interval of each sensor")
        .argParser(parseDuration)
        .default(DEFAULT_FLEET.intervalMs, `${DEFAULT_FLEET.intervalMs / 1000}s`),
    )
    .option("--rooms <n>", "rooms", positiveInt, DEFAULT_FLEET.rooms)
    .option("--sensors-per-room <n>", "thermometers per room", positiveInt, DEFAULT_FLEET.sensorsPerRoom)
    .option("--count <n>", "stop after this many readings", positiveInt)
    .option("--duration <duration>", "stop after this much simulated time", parseDuration)
    .addOption(
      new Option("--output <kind>", "where messages go")
        .choices(["mqtt", "serial", "stdout", "file"])
        .default("mqtt"),
    )
    .option("--url <url>", "MQTT broker", "mqtt://127.0.0.1:1883")
    .option(
      "--topic <template>",
      "MQTT topic over {room}, {sensor}, {device}",
      "sensors/{room}/{sensor}/temperature",
    )
    .addOption(new Option("--qos <n>", "MQTT QoS").choices(["0", "1", "2"]).default("1"))
    .option(
      "--clients <n|device>",
      "MQTT connections: one per device, or N shared (default: device up to 500 devices)",
      clients,
    )
    .option("--username <name>", "MQTT username")
    .option("--password <secret>", "MQTT password")
    .option("--port <path>", "serial port path (a PTY works)")
    .option("--baud <rate>", "serial baud rate", positiveInt, 115200)
    .option("--file <path>", "file to append lines to")
    .addOption(new Option("--format <format>", "payload format").choices([...FORMATS]).default("canonical"))
    .option("--humidity", "add relative humidity to every reading", false)
    .option(
      "--hot",
      "add hot places: a sauna, a server cupboard, a heater stuck on (readings >= 35 °C)",
      false,
    )
    .option("--faults <spec>", "fault rates, e.g. dropout=0.01,spike=0.002,duplicate=0.01,storm=2");
  for (const kind of FAULT_KINDS) {
    const unit = kind === "reconnect-storm" ? "storms per simulated hour" : "fraction of readings";
    cmd.option(`--fault-${kind} <rate>`, `${kind} rate (${unit})`, rate);
  }
  cmd
    .addOption(
      new Option("--oversize-bytes <n>", "size of oversized payloads")
        .argParser(positiveInt)
        .default(DEFAULT_FLEET.oversizeBytes, "96 KiB"),
    )
    .option("--outside-mean <celsius>", "daily mean outside temperature", Number, DEFAULT_FLEET.outsideMeanC)
    .option("--tz <hours>", "local time offset from UTC for the daily cycle", Number, 0)
    .option("--truth <file>", "write the ground-truth log (NDJSON) here")
    .option("--quiet", "no progress lines on stderr", false)
    .action(async (opts: Opts) => {
      try {
        process.exitCode = await runSim(opts);
      } catch (err) {
        // Bad option values found after parsing (a fault spec, a date): a message, not a stack.
        process.stderr.write(`sim: ${(err as Error).message}\n`);
        process.exitCode = 2;
      }
    });
  return cmd;
}

function outputSpec(o: Opts, devices: number): OutputSpec {
  switch (o.output) {
    case "mqtt":
      return {
        kind: "mqtt",
        url: o.url,
        topic: o.topic,
        qos: Number(o.qos) as 0 | 1 | 2,
        clients: o.clients ?? (devices <= 500 ? "device" : 8),
        username: o.username,
        password: o.password,
      };
    case "serial":
      if (!o.port) throw new InvalidArgumentError("--output serial needs --port PATH");
      return { kind: "serial", path: o.port, baudRate: o.baud };
    case "file":
      if (!o.file) throw new InvalidArgumentError("--output file needs --file PATH");
      return { kind: "file", path: o.file };
    case "stdout":
      return { kind: "stdout" };
  }
}

async function runSim(o: Opts): Promise<number> {
  const say = (s: string) => o.quiet || process.stderr.write(`sim: ${s}\n`);
  const faults: Partial<FaultRates> = o.faults ? parseFaultSpec(o.faults) : {};
  for (const kind of FAULT_KINDS) {
    const v = (o as unknown as FaultOpts)[camel(kind) as `fault${string}`];
    if (v !== undefined) faults[kind] = v;
  }
  const start = o.start === undefined ? Date.now() : Date.parse(o.start);
  if (!Number.isFinite(start)) throw new InvalidArgumentError(`--start: not a date: ${o.start}`);
  const fleet = createFleet({
    seed: o.seed,
    start,
    rooms: o.rooms,
    sensorsPerRoom: o.sensorsPerRoom,
    intervalMs: o.interval,
    format: o.format,
    humidity: o.humidity,
    hot: o.hot,
    faults,
    oversizeBytes: o.oversizeBytes,
    outsideMeanC: o.outsideMean,
    tzOffsetHours: o.tz,
  });
  const spec = outputSpec(o, fleet.devices.length);
  const output = createOutput(spec, fleet.devices);
  const truth = o.truth ? await createTruthWriter(o.truth) : undefined;
  const ac = new AbortController();
  const stop = () => ac.abort();
  // `edgespool sim --output stdout | head`: a closed pipe ends the run, not the process.
  if (spec.kind === "stdout") process.stdout.on("error", stop);
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  let lastReport = { at: performance.now(), messages: 0 };
  const progress = setInterval(() => {
    const s = output.stats();
    const now = performance.now();
    const rateNow = ((s.sent - lastReport.messages) * 1000) / (now - lastReport.at);
    lastReport = { at: now, messages: s.sent };
    say(`${s.sent} messages (${rateNow.toFixed(0)}/s), sim time ${new Date(fleet.now).toISOString()}`);
  }, 5000);
  progress.unref();
  try {
    await output.open();
    say(`${fleet.devices.length} sensors in ${fleet.rooms.length} rooms → ${describe(spec)}`);
    const res = await runFleet(fleet, output, {
      speed: o.speed,
      count: o.count,
      durationMs: o.duration,
      signal: ac.signal,
      truth,
    });
    await output.close();
    const s = output.stats();
    say(
      `done: ${res.readings} readings, ${res.messages} messages, ${res.storms} storms, ` +
        `${((res.messages * 1000) / Math.max(1, res.wallMs)).toFixed(0)} msgs/s, ${s.errors} transport errors`,
    );
    return 0;
  } catch (err) {
    process.stderr.write(`sim: ${(err as Error).message}\n`);
    await output.close().catch(() => undefined);
    return 1;
  } finally {
    clearInterval(progress);
    await truth?.close();
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
  }
}

function describe(spec: OutputSpec): string {
  switch (spec.kind) {
    case "mqtt":
      return `${spec.url} ${spec.topic} qos ${spec.qos}, ${spec.clients === "device" ? "one connection per device" : `${spec.clients} connections`}`;
    case "serial":
      return `serial ${spec.path}`;
    case "file":
      return `file ${spec.path}`;
    case "stdout":
      return "stdout";
  }
}
