import { spawn } from "node:child_process";
import type { Health } from "./health.js";
import type { Logger } from "./logger.js";

export interface SdNotifyOptions {
  env?: NodeJS.ProcessEnv;
  /** The notifier binary (systemd's own `systemd-notify`). */
  command?: string;
}

/**
 * systemd's notify protocol (Type=notify, WatchdogSec): READY=1 once the agent runs, then
 * WATCHDOG=1 every half watchdog period, but only while `health` says every component is ok, so
 * systemd restarts an agent that is wedged or failing for longer than the period.
 *
 * Node has no unix datagram sockets, so each message is one run of `systemd-notify` (part of
 * systemd, so present wherever this matters); the unit needs `NotifyAccess=all`. It runs in
 * blocking mode: it waits until systemd has read the message before exiting, so systemd can still
 * tell which unit the short-lived sender belonged to. One spawn per half period (a minute with
 * WatchdogSec=120) is cheap, and the timer is unref'd so it never keeps the process alive. Without
 * NOTIFY_SOCKET (not started by systemd) everything here is a no-op.
 */
export class SdNotify {
  private readonly env: NodeJS.ProcessEnv;
  private readonly command: string;
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private lastStatus: string | undefined;

  constructor(
    private readonly log: Logger,
    opts: SdNotifyOptions = {},
  ) {
    this.env = opts.env ?? process.env;
    this.command = opts.command ?? "systemd-notify";
  }

  get enabled(): boolean {
    return Boolean(this.env.NOTIFY_SOCKET);
  }

  /** Half of WATCHDOG_USEC, when systemd asked this process (WATCHDOG_PID, if set, is ours) for keep-alives. */
  get watchdogIntervalMs(): number | undefined {
    const usec = Number(this.env.WATCHDOG_USEC);
    if (!this.enabled || !Number.isFinite(usec) || usec <= 0) return undefined;
    const pid = this.env.WATCHDOG_PID;
    if (pid !== undefined && pid !== "" && Number(pid) !== process.pid) return undefined;
    return Math.max(1, Math.floor(usec / 2000));
  }

  /** READY=1 and, with WatchdogSec, the keep-alives fed from `health`. */
  start(health: Health): void {
    if (!this.enabled) return;
    this.send([`MAINPID=${process.pid}`, "READY=1", this.statusLine(health)]);
    const every = this.watchdogIntervalMs;
    if (every === undefined) return;
    this.timer = setInterval(() => this.tick(health), every);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    if (this.enabled) this.send(["STOPPING=1"]);
  }

  private tick(health: Health): void {
    const status = this.statusLine(health);
    const states = health.snapshot().status === "ok" ? ["WATCHDOG=1"] : [];
    if (status !== this.lastStatus) states.push(status);
    if (states.length > 0) this.send(states);
  }

  /** STATUS= shown by `systemctl status`: ok, or what is failing. */
  private statusLine(health: Health): string {
    const snap = health.snapshot();
    const failing = snap.components
      .filter((c) => !c.ok)
      .map((c) => `${c.kind} ${c.name}: ${c.reason ?? "failing"}`);
    const text = failing.length === 0 ? "ok" : `failing: ${failing.join("; ")}`;
    return `STATUS=${text.replace(/\n/g, " ").slice(0, 400)}`;
  }

  private send(states: string[]): void {
    // One message at a time: if systemd is slow to read, a keep-alive is skipped rather than queued.
    if (this.busy) return;
    this.busy = true;
    const status = states.find((s) => s.startsWith("STATUS="));
    const child = spawn(this.command, states, { env: this.env, stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr?.on("data", (d: Buffer) => {
      err = (err + d.toString()).slice(-500);
    });
    let settled = false;
    const done = (problem: string | undefined) => {
      if (settled) return;
      settled = true;
      this.busy = false;
      if (problem === undefined) {
        if (status !== undefined) this.lastStatus = status;
      } else this.log.warn({ states, err: problem }, "systemd notification failed");
    };
    child.once("error", (e) => done(e.message));
    child.once("close", (code) => done(code === 0 ? undefined : `exit ${code}: ${err.trim()}`));
  }
}
