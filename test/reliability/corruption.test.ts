import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { readNdjsonDir } from "../../agent/sinks/file/read.js";
import { type AgentProcess, freePort, tempDir } from "../helpers/agent-process.js";
import {
  agentConfig,
  brokerSource,
  fileSink,
  startAgentProcess,
  stopTorture,
} from "../helpers/reliability-agent.js";
import { checkDelivery, waitForDelivery } from "../helpers/reliability-check.js";
import { FleetLoad, sleep } from "../helpers/reliability-load.js";

/**
 * Corruption at start (issue 6), through the CLI: a spool.db that is garbage or was truncated
 * (a power cut on an SD card) is moved aside untouched, the move is logged, and a fresh spool
 * takes readings again, with seq above anything the old spool could have handed out.
 */

let agent: AgentProcess | undefined;
let load: FleetLoad | undefined;
afterEach(async () => {
  await stopTorture({ load, agent });
  agent = load = undefined;
});

/** A real spool with a few thousand records, closed (WAL checkpointed) by stopping the agent with SIGTERM. */
async function realSpool(dir: string, cfg: ReturnType<typeof agentConfig>, port: number): Promise<void> {
  const a = await startAgentProcess(dir, cfg, port);
  const l = new FleetLoad({ port, rooms: 12, ratePerSec: 3000, clients: 2 });
  l.start();
  await sleep(1500);
  await l.stop();
  a.child.kill("SIGTERM");
  await a.exited;
}

async function corruptedStart(corrupt: (file: string) => void) {
  const dir = tempDir("edgespool-corrupt-");
  const port = await freePort();
  const cfg = agentConfig(dir, { sources: [brokerSource(port)], sinks: [fileSink(dir)] });
  const db = join(cfg.dataDir, "spool.db");
  corrupt(db);
  const damaged = readFileSync(db);

  agent = await startAgentProcess(dir, cfg, port);
  const aside = readdirSync(cfg.dataDir).filter(
    (f) => f.startsWith("spool.db.corrupt-") && !/-(wal|shm)$/.test(f),
  );
  expect(aside, `moved-aside files in ${readdirSync(cfg.dataDir).join(", ")}`).toHaveLength(1);
  expect(readFileSync(join(cfg.dataDir, aside[0]!)).equals(damaged), "moved aside byte for byte").toBe(true);
  const logged = agent.stderr();
  expect(logged).toMatch(/spool database is corrupt: moved aside/);

  // The fresh spool works end to end.
  load = new FleetLoad({ port, rooms: 4, ratePerSec: 300, clients: 1, seed: 99 });
  load.start();
  await sleep(1000);
  await load.stop();
  expect(load.acked.size).toBeGreaterThan(50);
  const out = join(dir, "out");
  const d = await waitForDelivery(() => readNdjsonDir(out), load.acked, 15_000);
  expect(d.missing).toEqual([]);
  return { dir, cfg, out };
}

describe("corrupt spool at start: moved aside, logged, fresh spool", () => {
  it("garbage bytes where spool.db should be", async () => {
    await corruptedStart((file) => {
      mkdirSync(join(file, ".."), { recursive: true, mode: 0o700 });
      writeFileSync(file, randomBytes(64 * 1024));
    });
  });

  it("a real spool truncated mid-file; seq keeps rising above the old spool's", async () => {
    const dir = tempDir("edgespool-truncate-");
    const port = await freePort();
    const cfg = agentConfig(dir, {
      sources: [brokerSource(port)],
      sinks: [fileSink(dir, { dir: join(dir, "out0") })],
    });
    await realSpool(dir, cfg, port);
    const db = join(cfg.dataDir, "spool.db");
    const old = new Database(db, { readonly: true });
    const oldMax = (old.prepare("SELECT value FROM meta WHERE key = 'lastSeq'").get() as { value: number })
      .value;
    old.close();
    expect(oldMax).toBeGreaterThan(500);
    const oldLines = readNdjsonDir(join(dir, "out0"));

    const { out } = await corruptedStart((file) => {
      // Copy the real spool into the new test's folder, then cut it to 60 %.
      mkdirSync(join(file, ".."), { recursive: true, mode: 0o700 });
      writeFileSync(file, readFileSync(db));
      truncateSync(file, Math.floor(statSync(file).size * 0.6));
    });
    const fresh = checkDelivery(readNdjsonDir(out), []);
    expect(fresh.unique).toBeGreaterThan(0);
    const seqs = readNdjsonDir(out).map((l) => (JSON.parse(l) as { seq: number }).seq);
    expect(Math.min(...seqs), "seq after recovery stays above the lost spool's").toBeGreaterThan(oldMax);
    expect(oldLines.length).toBeGreaterThan(0);
  });
});
