import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { readNdjsonDir } from "../../agent/sinks/file/read.js";
import { type AgentProcess, freePort, killHard, tempDir } from "../helpers/agent-process.js";
import {
  agentConfig,
  brokerSource,
  fileSink,
  httpSink,
  startAgentProcess,
  tortureParts,
} from "../helpers/reliability-agent.js";
import { type Delivery, describeDelivery, waitForDelivery } from "../helpers/reliability-check.js";
import { canMount, mountTmpfs, unmount } from "../helpers/reliability-fs.js";
import { NdjsonReceiver } from "../helpers/reliability-http.js";
import { FleetLoad, sleep, waitFor } from "../helpers/reliability-load.js";
import { metricSum, scrape } from "../helpers/reliability-proc.js";

/**
 * Full disk (issue 6), on real small file systems: a tmpfs with a size limit, most of it taken by
 * a ballast file, so the disk fills within seconds and deleting the ballast frees it again. The
 * agent is a child process under QoS1 load from the simulator, its only sink (http) down so the
 * spool cannot shrink. Under `block` PUBACKs stop while the disk is full and resume after space
 * is freed; under `drop-oldest` acknowledgements go on and the drops are counted; the file sink on
 * a full disk retries (ENOSPC) and keeps its backlog. The agent never exits and the spool passes
 * SQLite's integrity check afterwards.
 */

const MOUNTABLE = canMount();
if (!MOUNTABLE)
  console.warn("full-disk: mount -t tmpfs is not permitted here (needs root/CAP_SYS_ADMIN); skipped");

const mounts: string[] = [];
const t = tortureParts(() => {
  for (const m of mounts.splice(0)) unmount(m);
});

function smallDisk(dir: string, size: string, ballastBytes: number): { disk: string; ballast: string } {
  const disk = join(dir, "disk");
  mountTmpfs(disk, size);
  mounts.push(disk);
  const ballast = join(disk, "ballast");
  writeFileSync(ballast, Buffer.alloc(ballastBytes, 1));
  return { disk, ballast };
}

/** Resolves once `acked` has not grown for `quietMs` while publishes are outstanding. */
async function waitForStall(l: FleetLoad, quietMs: number, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  let last = l.acked.size;
  let since = Date.now();
  while (Date.now() < until) {
    await sleep(100);
    if (l.acked.size !== last || l.outstanding === 0) {
      last = l.acked.size;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) return true;
  }
  return false;
}

/** What every full-disk run ends with: device order, one id per message, the agent alive, the spool intact. */
async function endsWell(d: Delivery, dataDir: string): Promise<void> {
  expect(d.orderViolations).toEqual([]);
  expect(d.doubled).toEqual([]);
  expect(alive(t.agent), t.agent?.stderr()).toBe(true);
  await killHard(t.agent!);
  expect(integrity(dataDir).check).toBe("ok");
}

function integrity(dataDir: string): { check: string; records: number } {
  const db = new Database(join(dataDir, "spool.db"), { readonly: true });
  try {
    const check = db.pragma("integrity_check", { simple: true }) as string;
    const records = (db.prepare("SELECT count(*) AS n FROM records").get() as { n: number }).n;
    return { check, records };
  } finally {
    db.close();
  }
}

const alive = (p: AgentProcess | undefined) =>
  p !== undefined && p.child.exitCode === null && p.child.signalCode === null;

describe.skipIf(!MOUNTABLE)("full disk under the spool (tmpfs 8 MiB)", () => {
  async function setup(onFull: "block" | "drop-oldest") {
    const dir = tempDir("edgespool-fulldisk-");
    const { disk, ballast } = smallDisk(dir, "8m", 5 * 1024 * 1024);
    const port = await freePort();
    const metricsPort = await freePort();
    t.receiver = new NdjsonReceiver();
    await t.receiver.start(0);
    await t.receiver.stop(); // the upstream is down until the test brings it back
    const cfg = {
      ...agentConfig(dir, {
        sources: [brokerSource(port)],
        sinks: [httpSink(t.receiver.url, { timeoutMs: 1000 })],
        spool: { onFull },
        metricsPort,
      }),
      dataDir: join(disk, "spool"),
    };
    t.agent = await startAgentProcess(dir, cfg, port);
    t.load = new FleetLoad({ port, rooms: 12, ratePerSec: 2000, clients: 3, window: 100 });
    t.load.start();
    return { cfg, ballast, metricsPort };
  }

  it("block: withholds PUBACKs while full, resumes when space frees, loses nothing", async () => {
    const { cfg, ballast, metricsPort } = await setup("block");
    const stalled = await waitForStall(t.load!, 2000, 35_000);
    expect(stalled, `acks never stopped (acked ${t.load!.acked.size}, sent ${t.load!.sent})`).toBe(true);
    expect(alive(t.agent), t.agent?.stderr()).toBe(true);
    const atStall = t.load!.acked.size;
    expect(t.load!.outstanding).toBeGreaterThan(0);
    // Health says why: the spool holds producers back (and the disk is full).
    const spoolFailing = await waitFor(async () => {
      const res = await fetch(`http://127.0.0.1:${metricsPort}/healthz`);
      const body = (await res.json()) as { failing: { kind: string; reason: string }[] };
      return (
        res.status === 503 && body.failing.some((f) => f.kind === "spool" && /onFull: block/.test(f.reason))
      );
    }, 15_000);
    expect(spoolFailing, "/healthz names the spool full under block").toBe(true);

    rmSync(ballast);
    await t.receiver!.start();
    const resumed = await waitFor(() => t.load!.acked.size > atStall + 200, 25_000);
    expect(resumed, `acks did not resume (acked ${t.load!.acked.size}, at stall ${atStall})`).toBe(true);
    await t.load!.stop();
    const d = await waitForDelivery(() => t.receiver!.lines, t.load!.acked, 30_000);
    expect(d.missing, describeDelivery(d, t.load!.acked.size)).toEqual([]);
    await endsWell(d, cfg.dataDir);
  }, 90_000);

  it("drop-oldest: keeps acknowledging, counts the drops, never crashes", async () => {
    const { cfg, ballast, metricsPort } = await setup("drop-oldest");
    // Stored rows that drop-oldest deleted, plus readings refused outright (no room even after
    // dropping: never stored, so counted spool-wide as rejected rather than as the sink's drop).
    const dropped = async () => {
      const m = await scrape(metricsPort);
      return (
        metricSum(m, "edgespool_dropped_total", 'reason="spool-full"') +
        metricSum(m, "edgespool_rejected_total", 'source="spool"', 'reason="spool-full"')
      );
    };
    expect(await waitFor(async () => (await dropped()) > 0, 35_000), "no spool-full drops counted").toBe(
      true,
    );
    const before = t.load!.acked.size;
    await sleep(1500);
    expect(
      t.load!.acked.size,
      `acknowledgements must go on while dropping; agent log: ${t.agent
        ?.stderr()
        .split("\n")
        .filter((l) => /"level":(40|50|60)/.test(l))
        .slice(-4)
        .join("\n")}`,
    ).toBeGreaterThan(before + 100);
    expect(alive(t.agent), t.agent?.stderr()).toBe(true);

    rmSync(ballast);
    await t.receiver!.start();
    await t.load!.stop();
    await sleep(1000);
    const d = await waitForDelivery(() => t.receiver!.lines, t.load!.acked, 8000);
    const n = await dropped();
    // What was acknowledged is either delivered or counted as dropped: nothing vanishes silently.
    expect(d.missing.length, describeDelivery(d, t.load!.acked.size)).toBeLessThanOrEqual(n);
    await endsWell(d, cfg.dataDir);
  }, 90_000);
});

describe.skipIf(!MOUNTABLE)("full disk under the file sink (tmpfs 4 MiB)", () => {
  it("ENOSPC is retried, the backlog kept, and it recovers when space frees", async () => {
    const dir = tempDir("edgespool-sinkfull-");
    const { disk, ballast } = smallDisk(dir, "4m", 3.7 * 1024 * 1024);
    const outDir = join(disk, "out");
    const port = await freePort();
    const metricsPort = await freePort();
    const cfg = agentConfig(dir, {
      sources: [brokerSource(port)],
      sinks: [fileSink(dir, { dir: outDir })],
      metricsPort,
    });
    t.agent = await startAgentProcess(dir, cfg, port);
    t.load = new FleetLoad({ port, rooms: 12, ratePerSec: 800, clients: 3 });
    t.load.start();

    const metrics = () => scrape(metricsPort);
    const enospc = async () =>
      metricSum(await metrics(), "edgespool_sink_errors_total", 'sink="files"', "ENOSPC");
    expect(await waitFor(async () => (await enospc()) > 0, 30_000), "no ENOSPC sink errors").toBe(true);
    await sleep(1000);
    const depth = metricSum(await metrics(), "edgespool_sink_depth", 'sink="files"');
    expect(depth, "backlog kept in the spool").toBeGreaterThan(100);

    rmSync(ballast);
    await sleep(500);
    await t.load.stop();
    const d = await waitForDelivery(() => readNdjsonDir(outDir), t.load.acked, 30_000);
    expect(d.missing, describeDelivery(d, t.load.acked.size)).toEqual([]);
    expect(d.orderViolations).toEqual([]);
    expect(d.doubled).toEqual([]);
    expect(d.unparsable, "no torn lines after ENOSPC").toBe(0);
    expect(metricSum(await metrics(), "edgespool_dropped_total")).toBe(0);
    expect(alive(t.agent), t.agent?.stderr()).toBe(true);
  }, 90_000);
});
