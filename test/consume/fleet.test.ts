import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { type KinesisClient, SplitShardCommand } from "@aws-sdk/client-kinesis";
import { afterEach, describe, expect, it } from "vitest";
import { type Lease, LeaseTable, SHARD_END } from "../../agent/consume/leases.js";
import { createFleet, type TruthReading } from "../../simulator/fleet.js";
import { createMqttOutput } from "../../simulator/outputs/mqtt.js";
import { runFleet } from "../../simulator/run.js";
import { collectTruth } from "../../simulator/truth.js";
import { truthId } from "../helpers/truth-id.js";
import { CLI } from "../helpers/agent-process.js";
import { clientWithStream, CREDS, type Kinesalite, startKinesalite, waitActive } from "../kinesis/helpers.js";
import { waitFor } from "../simulator/broker.js";
import { ddbClient, type Dynalite, houseAgent, startDynalite, tableIds } from "./helpers.js";

/**
 * The tutorial's whole pipeline at fleet scale: three simulated houses with hot places, each
 * publishing into its own agent (own agentId and spool), all shipping to one 4-shard stream;
 * three `edgespool consume` workers sharing it through one lease table, keeping readings at or
 * above 35 °C in a DynamoDB table. One worker is SIGKILLed mid-stream and a shard is split
 * during the run. Every hot reading in the ground truth ends up in the table exactly once, and
 * nothing else does; the lease table, sampled throughout, never names a worker that is gone.
 */

const SOAK = process.env.EDGESPOOL_SOAK === "1";
const PER_FLEET = SOAK ? 12_000 : 2_400;
const LEASE_MS = 2_000;
const STREAM = "fleet";
const APP = "fleet-consumers";
const TABLE = "hot-readings";
/** 16:30 UTC: the saunas' 18:00 session falls in the simulated span. */
const START = Date.parse("2026-01-15T16:30:00Z");

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const awsEnv = { AWS_ACCESS_KEY_ID: CREDS.accessKeyId, AWS_SECRET_ACCESS_KEY: CREDS.secretAccessKey };

interface Worker {
  name: string;
  child: ChildProcess;
  out: () => string;
  exited: Promise<number | null>;
}

function startWorker(name: string, k: Kinesalite, d: Dynalite): Worker {
  const child = spawn(
    process.execPath,
    [
      CLI,
      "consume",
      ...["--stream", STREAM, "--endpoint", k.endpoint, "--region", "us-east-1"],
      ...["--table", TABLE, "--dynamodb-endpoint", d.endpoint],
      ...["--app", APP, "--worker", name, "--lease-ms", String(LEASE_MS)],
      ...["--filter", "temperature >= 35", "--db", join(tmpdir(), `unused-${process.pid}-${name}.db`)],
    ],
    {
      env: { ...process.env, ...awsEnv, EDGESPOOL_LOG_LEVEL: "info" },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let out = "";
  const keep = (b: Buffer) => void (out = (out + b.toString()).slice(-200_000));
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const exited = new Promise<number | null>((res) => child.once("exit", (code) => res(code)));
  const w = { name, child, out: () => out, exited };
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await exited;
    rmSync(join(tmpdir(), `unused-${process.pid}-${name}.db`), { force: true });
  });
  return w;
}

/** Runs one simulated house (`--hot`) into an agent; resolves with its ground truth. */
async function house(i: number, port: number): Promise<TruthReading[]> {
  const fleet = createFleet({
    seed: 100 + i,
    start: START,
    hot: true,
    intervalMs: 60_000,
    faults: { duplicate: 0.02 },
  });
  const output = createMqttOutput({
    url: `mqtt://127.0.0.1:${port}`,
    topic: "sensors/{room}/{sensor}/temperature",
    qos: 1,
    clients: 2,
    devices: fleet.devices,
    reconnectPeriodMs: 100,
    clientIdPrefix: `house${i}`,
  });
  const truth: TruthReading[] = [];
  await output.open();
  await runFleet(fleet, output, {
    speed: SOAK ? 600 : 500,
    count: PER_FLEET,
    tickMs: 20,
    truth: collectTruth(truth),
  });
  await output.close();
  return truth;
}

describe.skipIf(!existsSync(CLI))("fleet: agents → kinesis → lease-sharing consumers → dynamodb", () => {
  it("stores every hot reading exactly once through a SIGKILLed worker and a shard split", async () => {
    const k = await startKinesalite();
    const d = await startDynalite();
    cleanups.push(
      () => k.close(),
      () => d.close(),
    );
    const kc: KinesisClient = await clientWithStream(k.endpoint, STREAM, 4);
    const ddb: DynamoDBClient = ddbClient(d.endpoint);
    cleanups.push(
      () => kc.destroy(),
      () => ddb.destroy(),
    );

    const workers = ["w0", "w1", "w2"].map((n) => startWorker(n, k, d));
    const leases = new LeaseTable(ddb, APP);
    const samples: { at: number; leases: Lease[] }[] = [];
    const owners = () => new Set((samples.at(-1)?.leases ?? []).map((l) => l.leaseOwner));
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        try {
          samples.push({ at: Date.now(), leases: await leases.list() });
        } catch {
          // the table does not exist until the first worker created it
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    // Every worker holds a share before readings flow (4 shards, 3 workers: 2, 1, 1).
    await waitFor(() => ["w0", "w1", "w2"].every((w) => owners().has(w)), 30_000);

    const agents = await Promise.all([0, 1, 2].map((i) => houseAgent(i, k.endpoint, STREAM, cleanups)));
    const houses = Promise.all(agents.map((a, i) => house(i, a.port)));

    // Mid-stream: kill the worker holding two leases (the busiest), then split a shard.
    await new Promise((r) => setTimeout(r, 3000));
    const last = samples.at(-1)!.leases;
    const busiest = ["w0", "w1", "w2"].sort(
      (a, b) => last.filter((l) => l.leaseOwner === b).length - last.filter((l) => l.leaseOwner === a).length,
    )[0]!;
    const victim = workers.find((w) => w.name === busiest)!;
    const heldByVictim = last
      .filter((l) => l.leaseOwner === busiest && l.checkpoint !== SHARD_END)
      .map((l) => l.leaseKey);
    victim.child.kill("SIGKILL");
    await victim.exited;
    const killedAt = Date.now();
    await new Promise((r) => setTimeout(r, 1500));
    await kc.send(
      new SplitShardCommand({
        StreamName: STREAM,
        ShardToSplit: "shardId-000000000001",
        NewStartingHashKey: ((2n ** 128n / 4n) * 1n + 2n ** 128n / 8n).toString(),
      }),
    );
    await waitActive(kc, STREAM);

    const truth = (await houses).flat();
    // Ground truth: what the fleet sent that a correct pipeline keeps (valid, at least 35 °C).
    const hot = new Set(truth.filter((t) => t.valid && t.copies > 0 && t.temperature >= 35).map(truthId));
    const cold = truth.filter((t) => t.valid && t.copies > 0 && t.temperature < 35);
    expect(hot.size).toBeGreaterThan(PER_FLEET * 0.03);
    expect(cold.some((t) => t.temperature >= 33)).toBe(true);

    await waitFor(() => agents.every((a) => a.handle.stats().sinks.every((s) => s.depth === 0)), 60_000);
    let stored: string[] = [];
    const until = Date.now() + 60_000;
    for (;;) {
      stored = await tableIds(ddb, TABLE);
      if (stored.length >= hot.size || Date.now() > until) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    sampling = false;
    await sampler;

    // Exactly the hot readings, each once (the table's key makes "once" a count).
    const missing = [...hot].filter((id) => !stored.includes(id));
    expect(missing, `${missing.length} of ${hot.size} hot readings missing`).toEqual([]);
    expect(stored.filter((id) => !hot.has(id))).toEqual([]);
    expect(new Set(stored).size).toBe(stored.length);

    // Leases over the run: only live workers hold them once a lease period (+ a take round and
    // a margin for a busy machine) has passed since the kill; the dead worker's shards moved.
    const final = samples.at(-1)!.leases;
    for (const key of heldByVictim) {
      const l = final.find((x) => x.leaseKey === key)!;
      expect(l.leaseOwner === busiest && l.checkpoint !== SHARD_END, `${key} still with ${busiest}`).toBe(
        false,
      );
    }
    const takenAt = samples.find(
      (s) => s.at > killedAt && s.leases.every((l) => l.leaseOwner !== busiest || l.checkpoint === SHARD_END),
    )?.at;
    expect(takenAt).toBeDefined();
    // The dead worker's last sign of life: the last sample in which one of its counters moved.
    let lastMove = 0;
    for (let i = 1; i < samples.length && samples[i]!.at <= killedAt; i++) {
      const moved = samples[i]!.leases.some((l) => {
        const p = samples[i - 1]!.leases.find((x) => x.leaseKey === l.leaseKey);
        return l.leaseOwner === busiest && p !== undefined && p.leaseCounter !== l.leaseCounter;
      });
      if (moved) lastMove = samples[i]!.at;
    }
    // Expired one lease period after that; taken within about one more (scan interval, the
    // take round itself). The margin is for a loaded machine; the exact rule is tested on a
    // test clock in leases.test.ts.
    expect(takenAt! - lastMove).toBeLessThan(2 * LEASE_MS + 5_000);
    console.log(
      `fleet: ${hot.size} hot of ${truth.length} readings; ${busiest}'s leases taken ` +
        `${takenAt! - lastMove} ms after its last renewal (lease ${LEASE_MS} ms)`,
    );
    for (const s of samples) {
      for (const l of s.leases) if (l.leaseOwner) expect(["w0", "w1", "w2"]).toContain(l.leaseOwner);
    }
    // Counters only move forward; a change of owner always moves the counter.
    const prev = new Map<string, Lease>();
    for (const s of samples) {
      for (const l of s.leases) {
        const p = prev.get(l.leaseKey);
        if (p) {
          expect(l.leaseCounter).toBeGreaterThanOrEqual(p.leaseCounter);
          if (l.leaseOwner !== p.leaseOwner) expect(l.leaseCounter).toBeGreaterThan(p.leaseCounter);
        }
        prev.set(l.leaseKey, l);
      }
    }
    // The split: the parent finished, both children were created and read.
    const parent = final.find((l) => l.leaseKey === "shardId-000000000001")!;
    expect(parent.checkpoint).toBe(SHARD_END);
    const children = final.filter((l) => l.parentShardIds.includes("shardId-000000000001"));
    expect(children).toHaveLength(2);
    // `--leases` shows the same table from the command line.
    // Not spawnSync: dynalite runs in this process and must keep answering.
    const lister = spawn(
      process.execPath,
      [CLI, "consume", "--app", APP, "--leases", "--dynamodb-endpoint", d.endpoint, "--region", "us-east-1"],
      { env: { ...process.env, ...awsEnv }, stdio: ["ignore", "pipe", "inherit"] },
    );
    let printed = "";
    lister.stdout.on("data", (b: Buffer) => void (printed += b.toString()));
    await new Promise((r) => lister.once("exit", r));
    const report = { stdout: printed };
    expect(report.stdout).toMatch(/shardId-000000000001\s+\S+\s+\d+\s+SHARD_END\s+done/);
    expect(report.stdout).toMatch(/^workers: /m);

    for (const w of workers.filter((x) => x !== victim)) w.child.kill("SIGTERM");
    const codes = await Promise.all(workers.filter((x) => x !== victim).map((w) => w.exited));
    expect(codes).toEqual([0, 0]);
  }, 180_000);
});
