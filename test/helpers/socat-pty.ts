import { type ChildProcess, spawn } from "node:child_process";
import { constants, existsSync, rmSync } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { setTimeout as delay } from "node:timers/promises";
import { haveTool } from "./tools.js";

/** True when socat is installed; elsewhere PTY tests skip with a message, in CI they fail. */
export const haveSocat = haveTool("socat", "the serial PTY tests");

/**
 * A pair of linked pseudo-terminals from socat: the source opens `device`, the test writes to
 * `peer` as if it were the sensor. `kill()` is an unplug; `start()` again is the replug on the
 * same link paths.
 */
export class PtyPair {
  private proc: ChildProcess | undefined;
  private fh: FileHandle | undefined;

  constructor(
    readonly device: string,
    readonly peer: string,
  ) {}

  async start(): Promise<void> {
    this.removeLinks();
    const proc = spawn("socat", [`pty,raw,echo=0,link=${this.device}`, `pty,raw,echo=0,link=${this.peer}`], {
      stdio: "ignore",
    });
    this.proc = proc;
    for (let i = 0; i < 200; i++) {
      if (existsSync(this.device) && existsSync(this.peer)) return;
      if (proc.exitCode !== null) throw new Error(`socat exited with ${proc.exitCode}`);
      await delay(10);
    }
    throw new Error("socat did not create the PTY links");
  }

  /**
   * Writes to the sensor end. Blocking writes run on libuv's thread pool, so a reader in this
   * same process keeps draining the PTY while a large write waits for buffer space.
   */
  async write(data: string | Buffer): Promise<void> {
    if (this.fh === undefined) this.fh = await this.openPeer();
    const buf = typeof data === "string" ? Buffer.from(data) : data;
    let off = 0;
    while (off < buf.length) {
      const { bytesWritten } = await this.fh.write(buf, off, Math.min(4096, buf.length - off));
      off += bytesWritten;
    }
  }

  /** Right after a (re)start the new PTY can refuse an open for a moment (EIO); retry briefly. */
  private async openPeer(): Promise<FileHandle> {
    for (let i = 0; ; i++) {
      try {
        return await open(this.peer, constants.O_WRONLY | constants.O_NOCTTY);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (i >= 50 || (code !== "EIO" && code !== "ENOENT")) throw err;
        await delay(20);
      }
    }
  }

  /** Unplug: SIGKILL socat, so the device end fails the way a yanked USB adapter does. */
  async kill(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close().catch(() => {});
    const proc = this.proc;
    this.proc = undefined;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((r) => proc.once("exit", r));
    proc.kill("SIGKILL");
    await exited;
    // SIGKILL leaves socat's symlinks behind; a real unplug removes the device node too.
    this.removeLinks();
  }

  private removeLinks(): void {
    for (const p of [this.device, this.peer]) rmSync(p, { force: true });
  }

  async stop(): Promise<void> {
    await this.kill();
  }
}
