import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { freePort } from "./basics.js";
import { haveTool, toolPath } from "./tools.js";

const BIN = toolPath("mosquitto");

/** True when Debian's mosquitto is installed; elsewhere MQTT tests skip with a message, in CI they fail. */
export const haveMosquitto = haveTool("mosquitto", "the tests against an external MQTT broker");

export { freePort } from "./basics.js";

async function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port }, () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/**
 * A private Mosquitto on a free loopback port, with persistence in its own folder, so a restart
 * keeps persistent sessions and their queued QoS1 messages the way a production broker does.
 */
export class Mosquitto {
  private proc: ChildProcess | undefined;
  port = 0;
  readonly log: string[] = [];

  /** Extra mosquitto.conf lines; an option given here replaces the default line of the same name. */
  extra: string[] = [];

  constructor(readonly dir: string) {}

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (this.port === 0) this.port = await freePort();
    mkdirSync(join(this.dir, "db"), { recursive: true });
    const conf = join(this.dir, "mosquitto.conf");
    const overridden = new Set(this.extra.map((l) => l.split(/\s+/)[0]));
    const lines = [
      `listener ${this.port} 127.0.0.1`,
      "allow_anonymous true",
      "persistence true",
      `persistence_location ${join(this.dir, "db")}/`,
      // Queue everything for an offline persistent client: the default of 1000 would drop.
      "max_queued_messages 0",
      "max_inflight_messages 100",
      // As root, mosquitto would drop to the "mosquitto" user, who cannot write our 0700 temp dir.
      ...(process.getuid?.() === 0 ? ["user root"] : []),
      "log_dest stderr",
      "log_type error",
      "log_type warning",
    ];
    writeFileSync(
      conf,
      [...lines.filter((l) => !overridden.has(l.split(/\s+/)[0])), ...this.extra, ""].join("\n"),
    );
    const proc = spawn(BIN!, ["-c", conf], { stdio: ["ignore", "ignore", "pipe"] });
    proc.stderr?.on("data", (d: Buffer) => this.log.push(d.toString()));
    this.proc = proc;
    for (let i = 0; i < 300; i++) {
      if (proc.exitCode !== null) throw new Error(`mosquitto exited: ${this.log.join("")}`);
      if (await portOpen(this.port)) return;
      await delay(20);
    }
    throw new Error("mosquitto did not start listening");
  }

  /** SIGTERM (graceful, saves the persistence file) or SIGKILL. */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    const proc = this.proc;
    this.proc = undefined;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((r) => proc.once("exit", r));
    proc.kill(signal);
    await exited;
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }
}
