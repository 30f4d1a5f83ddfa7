import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { simCommand } from "../../simulator/cli.js";
import type { TruthEntry, TruthReading } from "../../simulator/fleet.js";
import { readTruth } from "../../simulator/truth.js";

const dir = mkdtempSync(join(tmpdir(), "edgespool-sim-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function sim(args: string[]): Promise<number> {
  process.exitCode = 0;
  await simCommand().exitOverride().parseAsync(args, { from: "user" });
  const code = Number(process.exitCode ?? 0);
  process.exitCode = 0;
  return code;
}

const base = ["--speed", "max", "--seed", "5", "--start", "2026-01-01T00:00:00Z", "--quiet"];
const faults = ["--faults", "duplicate=0.1,malformed=0.05,dropout=0.05", "--fault-spike", "0.02"];

describe("edgespool sim", () => {
  it("writes lines to a file and a ground-truth log that accounts for every line", async () => {
    const out = join(dir, "a.csv");
    const truthFile = join(dir, "a.truth.ndjson");
    const args = [
      ...base,
      ...faults,
      "--output",
      "file",
      "--file",
      out,
      "--truth",
      truthFile,
      "--count",
      "400",
    ];
    expect(await sim([...args, "--format", "csv", "--humidity"])).toBe(0);
    const lines = readFileSync(out).toString("latin1").split("\n").slice(0, -1);
    const truth = await readTruth(truthFile);
    const readings = truth.filter((t: TruthEntry): t is TruthReading => t.type === "reading");
    expect(readings.length).toBe(400);
    expect(lines.length).toBe(readings.reduce((s, t) => s + t.copies, 0));
    for (const kind of ["duplicate", "malformed", "dropout", "spike"] as const)
      expect(readings.some((t) => t.faults.includes(kind))).toBe(true);
    // Good lines carry what ground truth says was sent.
    const good = readings
      .filter((t) => t.copies > 0 && t.malformed === undefined)
      .map((t) => `${t.sensor},${t.ts},${t.seq},${t.temperature},${t.humidity}`);
    for (const g of good) expect(lines).toContain(g);
  });

  it("is reproducible: the same seed and start give the same bytes", async () => {
    const a = join(dir, "b1.json");
    const b = join(dir, "b2.json");
    const args = [...base, ...faults, "--output", "file", "--count", "300", "--format", "tutorial"];
    expect(await sim([...args, "--file", a])).toBe(0);
    expect(await sim([...args, "--file", b])).toBe(0);
    expect(readFileSync(a).equals(readFileSync(b))).toBe(true);
    expect(await sim([...args, "--seed", "6", "--file", join(dir, "b3.json")])).toBe(0);
    expect(readFileSync(join(dir, "b3.json")).equals(readFileSync(a))).toBe(false);
  });

  it("stops after --duration of simulated time", async () => {
    const out = join(dir, "c.kv");
    const code = await sim([
      ...base,
      "--output",
      "file",
      "--file",
      out,
      "--duration",
      "10m",
      "--interval",
      "1m",
      "--rooms",
      "3",
      "--format",
      "kv",
    ]);
    expect(code).toBe(0);
    expect(readFileSync(out, "utf8").trim().split("\n").length).toBe(30);
  });

  it("refuses a bad option with a message, not a stack", async () => {
    expect(await sim(["--faults", "gremlins=1", "--output", "stdout", "--count", "1"])).toBe(2);
    expect(await sim(["--start", "yesterday", "--output", "stdout", "--count", "1"])).toBe(2);
    await expect(sim(["--speed", "fast"])).rejects.toThrow(/factor/);
  });
});
