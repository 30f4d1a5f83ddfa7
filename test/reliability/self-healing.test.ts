import { rmSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { freePort, tempDir } from "../helpers/agent-process.js";
import {
  agentConfig,
  brokerSource,
  httpSink,
  startAgentProcess,
  tortureParts,
} from "../helpers/reliability-agent.js";
import { describeDelivery, waitForDelivery } from "../helpers/reliability-check.js";
import { canMount, fillDisk, mountTmpfs, unmount } from "../helpers/reliability-fs.js";
import { NdjsonReceiver } from "../helpers/reliability-http.js";
import { FleetLoad, sleep, waitFor } from "../helpers/reliability-load.js";
import { metricSum, scrape, statusJson } from "../helpers/reliability-proc.js";

/**
 * Issue 10, failure 1, as a user met it: dataDir on a 6 MiB tmpfs, the http sink answering 503
 * while thousands of readings queue, the disk filled to the last byte, then the sink recovers.
 * The shipping loop must survive whatever the spool throws (SQLITE_FULL on the ack), keep the
 * batch it shipped counted once, resume as soon as space is freed, and `/healthz` must say what
 * is wrong meanwhile (503 naming the sink, then the full disk) and 200 once it is all well again.
 */

const MOUNTABLE = canMount();
if (!MOUNTABLE) console.warn("self-healing: mount -t tmpfs is not permitted here (needs root); skipped");

const mounts: string[] = [];
const t = tortureParts(() => {
  for (const m of mounts.splice(0)) unmount(m);
});

interface Healthz {
  status: string;
  failing: { kind: string; name: string; reason: string }[];
}

async function healthz(port: number): Promise<{ code: number; body: Healthz }> {
  const res = await fetch(`http://127.0.0.1:${port}/healthz`);
  return { code: res.status, body: (await res.json()) as Healthz };
}

describe.skipIf(!MOUNTABLE)("self-healing shipping loop (tmpfs 6 MiB)", () => {
  it("survives SQLITE_FULL, resumes when space is freed, and /healthz goes 503 then 200", async () => {
    const dir = tempDir("edgespool-heal-");
    const disk = join(dir, "disk");
    mountTmpfs(disk, "6m");
    mounts.push(disk);
    const port = await freePort();
    const metricsPort = await freePort();
    t.receiver = new NdjsonReceiver();
    await t.receiver.start(0);
    t.receiver.answer(503);
    const cfg = {
      ...agentConfig(dir, {
        sources: [brokerSource(port)],
        sinks: [httpSink(t.receiver.url, { timeoutMs: 1000, maxBatchRecords: 2000 })],
        metricsPort,
      }),
      dataDir: join(disk, "spool"),
      health: { sinkFailingMs: 500 },
    };
    t.agent = await startAgentProcess(dir, cfg, port);
    t.load = new FleetLoad({ port, rooms: 12, ratePerSec: 1500, clients: 3 });
    t.load.start();
    expect(await waitFor(() => t.load!.acked.size >= 5000, 30_000), `acked ${t.load.acked.size}`).toBe(true);
    await t.load.stop();

    // The sink has been failing for longer than sinkFailingMs: /healthz names it.
    expect(
      await waitFor(
        async () => (await healthz(metricsPort)).body.failing.some((f) => f.kind === "sink"),
        20_000,
      ),
      JSON.stringify((await healthz(metricsPort)).body),
    ).toBe(true);

    const ballast = join(disk, "ballast");
    fillDisk(ballast);
    t.receiver.answer(undefined);
    const diskFull = await waitFor(async () => {
      const h = await healthz(metricsPort);
      return h.code === 503 && h.body.failing.some((f) => f.kind === "spool" && /disk full/.test(f.reason));
    }, 20_000);
    expect(diskFull, JSON.stringify((await healthz(metricsPort)).body)).toBe(true);
    await sleep(2000);

    rmSync(ballast);
    const healthy = await waitFor(async () => (await healthz(metricsPort)).code === 200, 30_000);
    expect(healthy, JSON.stringify((await healthz(metricsPort)).body)).toBe(true);

    // The spool's own count and the metric agree, and every stored record is accounted for.
    type Status = Awaited<ReturnType<typeof statusJson>> & { health: { status: string } };
    let st = (await statusJson(join(dir, "config.json"))) as Status;
    await waitFor(async () => {
      st = (await statusJson(join(dir, "config.json"))) as Status;
      return st.sinks.every((s) => s.depth === 0);
    }, 60_000);
    expect(st.health.status, "status --json carries the agent's health").toBe("ok");
    const sink = st.sinks.find((s) => s.sink === "upstream")!;
    const dropped = Object.values(sink.dropped).reduce((a, b) => a + b, 0);
    expect(sink.depth).toBe(0);
    expect(sink.shipped + dropped + sink.depth).toBe(st.lastSeq);
    // Every acknowledged reading reached the sink, except those counted as dropped (drop-oldest
    // may have had to make room while the 6 MiB filled up under load).
    const d = await waitForDelivery(() => t.receiver!.lines, t.load.acked, 10_000);
    expect(d.missing.length, describeDelivery(d, t.load.acked.size)).toBeLessThanOrEqual(dropped);
    expect(t.receiver.lines.length, "shipping resumed after space was freed").toBeGreaterThan(0);
    const m = await scrape(metricsPort);
    expect(metricSum(m, "edgespool_shipped_total", 'sink="upstream"')).toBe(sink.shipped);
    expect(t.agent.child.exitCode, t.agent.stderr()).toBeNull();
  }, 180_000);
});
