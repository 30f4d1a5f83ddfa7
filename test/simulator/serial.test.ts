import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SerialPort } from "serialport";
import { afterEach, describe, expect, it } from "vitest";
import { createFleet } from "../../simulator/fleet.js";
import { createSerialOutput } from "../../simulator/outputs/serial.js";
import { runFleet } from "../../simulator/run.js";
import { waitFor } from "./broker.js";

/** The serial output writing lines into one end of a socat PTY pair, read back from the other. */

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function ptyPair(): Promise<{ a: string; b: string }> {
  const dir = mkdtempSync(join(tmpdir(), "edgespool-sim-pty-"));
  const a = join(dir, "a");
  const b = join(dir, "b");
  const socat: ChildProcess = spawn("socat", [`pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], {
    stdio: "ignore",
  });
  cleanups.push(() => {
    socat.kill();
    rmSync(dir, { recursive: true, force: true });
  });
  await waitFor(() => existsSync(a) && existsSync(b), 5000);
  return { a, b };
}

async function reader(path: string): Promise<{ lines: string[] }> {
  const port = new SerialPort({ path, baudRate: 115200 });
  await new Promise<void>((resolve, reject) => port.once("open", resolve).once("error", reject));
  cleanups.push(() => new Promise<void>((r) => (port.isOpen ? port.close(() => r()) : r())));
  const got = { lines: [] as string[] };
  let buf = "";
  port.on("data", (chunk: Buffer) => {
    buf += chunk.toString("latin1");
    const parts = buf.split("\n");
    buf = parts.pop() ?? "";
    got.lines.push(...parts);
  });
  return got;
}

describe("serial output", () => {
  it("writes one line per message, malformed bytes and reconnects included", async () => {
    const { a, b } = await ptyPair();
    const got = await reader(b);
    const fleet = createFleet({
      seed: 2,
      start: Date.parse("2026-01-01T00:00:00Z"),
      rooms: 3,
      intervalMs: 1000,
      format: "kv",
      faults: { malformed: 0.05, "reconnect-storm": 200 },
    });
    const out = createSerialOutput({ path: a, baudRate: 115200, reopenMs: 30 });
    await out.open();
    const sent: string[] = [];
    const res = await runFleet(fleet, out, {
      speed: 200,
      durationMs: 120_000,
      tickMs: 10,
      onEvent: (e) => e.kind === "message" && sent.push(Buffer.from(e.payload).toString("latin1")),
    });
    await out.close();
    expect(res.storms).toBeGreaterThan(0);
    await waitFor(() => got.lines.length >= sent.length, 5000);
    expect(got.lines).toEqual(sent);
  });
});
