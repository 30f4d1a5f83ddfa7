import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LeaseCoordinator } from "../../agent/consume/coordinator.js";
import { type Lease, LeaseTable, SHARD_END, TRIM_HORIZON } from "../../agent/consume/leases.js";
import { formatLeases } from "../../agent/consume/report.js";
import { ddbClient, type Dynalite, startDynalite } from "./helpers.js";

/**
 * The lease protocol against a real dynalite, with a clock the test moves: which worker holds
 * what after each round is then exact, not a matter of timing.
 */

let d: Dynalite;
let ddb: DynamoDBClient;
beforeAll(async () => {
  d = await startDynalite();
  ddb = ddbClient(d.endpoint);
});
afterAll(async () => {
  ddb?.destroy();
  await d?.close();
});

const LEASE_MS = 10_000;

async function table(name: string, shards: [string, string[]][]): Promise<LeaseTable> {
  const t = new LeaseTable(ddb, name);
  await t.ensure();
  for (const [id, parents] of shards) expect(await t.create(id, parents, TRIM_HORIZON)).toBe(true);
  return t;
}

function worker(t: LeaseTable, name: string, clock: { t: number }): LeaseCoordinator {
  return new LeaseCoordinator(t, { worker: name, leaseMs: LEASE_MS, now: () => clock.t });
}

const owners = async (t: LeaseTable) =>
  Object.fromEntries((await t.list()).map((l) => [l.leaseKey, l.leaseOwner ?? "-"]));
const count = (o: Record<string, string>, w: string) => Object.values(o).filter((x) => x === w).length;
const FOUR: [string, string[]][] = ["s0", "s1", "s2", "s3"].map((s) => [s, []]);

describe("lease table", () => {
  it("a fenced worker cannot move a checkpoint: the conditional write fails", async () => {
    const t = await table("fence", [["s0", []]]);
    const [seen] = await t.list();
    const a = (await t.take(seen!, "a"))!;
    const moved = (await t.checkpoint(a, "100", 5))!;
    expect(moved.checkpoint).toBe("100");
    // b takes it over (a stopped renewing); a still holds its old copy of the lease.
    const [now] = await t.list();
    expect(await t.take(now!, "b")).toBeDefined();
    expect(await t.checkpoint(moved, "200", 0)).toBeUndefined();
    expect(await t.renew(moved)).toBeUndefined();
    const [after] = await t.list();
    expect(after).toMatchObject({ leaseOwner: "b", checkpoint: "100" });
    // Two takers racing on the same counter: exactly one wins.
    const wins = await Promise.all([t.take(after!, "c"), t.take(after!, "d")]);
    expect(wins.filter(Boolean)).toHaveLength(1);
  });

  it("the coordinator refuses a checkpoint for a lease another worker took", async () => {
    const clock = { t: 0 };
    const t = await table("fence2", [["s0", []]]);
    const a = worker(t, "a", clock);
    await a.takeRound();
    expect(await a.checkpoint("s0", "7")).toBe(true);
    const [l] = await t.list();
    await t.take(l!, "b");
    expect(await a.checkpoint("s0", "8")).toBe(false);
    expect(a.owned().has("s0")).toBe(false);
    expect((await t.list())[0]).toMatchObject({ leaseOwner: "b", checkpoint: "7" });
  });

  it("balances when a worker joins, stealing one lease a round, and never more than the share", async () => {
    const clock = { t: 0 };
    const t = await table("balance", FOUR);
    const a = worker(t, "a", clock);
    await a.takeRound();
    expect(count(await owners(t), "a")).toBe(4);
    const b = worker(t, "b", clock);
    const c = worker(t, "c", clock);
    for (let round = 0; round < 4; round++) {
      clock.t += LEASE_MS / 3;
      await Promise.all([a.renewAll(), b.renewAll()]);
      const before = count(await owners(t), "b");
      await b.takeRound();
      expect(count(await owners(t), "b") - before).toBeLessThanOrEqual(1);
    }
    expect(count(await owners(t), "a")).toBe(2);
    expect(count(await owners(t), "b")).toBe(2);
    // A third worker: target is ceil(4/3) = 2, so it takes one lease and everybody stops there.
    for (let round = 0; round < 4; round++) {
      clock.t += LEASE_MS / 3;
      await Promise.all([a.renewAll(), b.renewAll(), c.renewAll()]);
      await c.takeRound();
      await a.takeRound();
      await b.takeRound();
    }
    const o = await owners(t);
    expect([count(o, "a"), count(o, "b"), count(o, "c")].sort()).toEqual([1, 1, 2]);
    // The workers that lost a lease find out on their next renewal.
    await Promise.all([a.renewAll(), b.renewAll(), c.renewAll()]);
    const held = [a, b, c].flatMap((w) => [...w.owned().keys()]);
    expect(held.sort()).toEqual(["s0", "s1", "s2", "s3"]);
  });

  it("takes a dead worker's leases once their counter stood still for one lease period", async () => {
    const clock = { t: 0 };
    const t = await table("failover", FOUR);
    const a = worker(t, "a", clock);
    const b = worker(t, "b", clock);
    await a.takeRound();
    await b.takeRound(); // steals one: a 3, b 1
    await a.renewAll(); // a's last sign of life, seen by b's next scan
    await b.takeRound();
    const seenAt = clock.t;
    clock.t = seenAt + LEASE_MS - 1;
    await b.renewAll();
    await b.takeRound();
    expect(count(await owners(t), "b")).toBe(2);
    expect(count(await owners(t), "a")).toBe(2);
    clock.t = seenAt + LEASE_MS;
    await b.renewAll();
    await b.takeRound();
    expect(count(await owners(t), "b")).toBe(4);
  });

  it("offers children only after every parent lease reached SHARD_END", async () => {
    const clock = { t: 0 };
    const t = await table("reshard", [
      ["parent", []],
      ["child-1", ["parent"]],
      ["child-2", ["parent"]],
    ]);
    const a = worker(t, "a", clock);
    await a.takeRound();
    expect([...a.owned().keys()]).toEqual(["parent"]);
    expect(await a.checkpoint("parent", SHARD_END)).toBe(true);
    expect(a.owned().size).toBe(0);
    await a.takeRound();
    expect([...a.owned().keys()].sort()).toEqual(["child-1", "child-2"]);
    const report = formatLeases(await t.list(), Date.now());
    expect(report).toMatch(/parent\s+a\s+\d+\s+SHARD_END\s+done/);
    expect(report).toMatch(/workers: a: 2 shards/);
  });

  it("a worker restarted under the same name takes back its own leases at once", async () => {
    const clock = { t: 0 };
    const t = await table("restart", FOUR);
    await worker(t, "a", clock).takeRound();
    // The process died (no release); its successor has the same name and an empty memory.
    const again = worker(t, "a", clock);
    await again.takeRound();
    expect([...again.owned().keys()].sort()).toEqual(["s0", "s1", "s2", "s3"]);
  });

  it("a worker that stops cleanly gives its leases back for others to take at once", async () => {
    const clock = { t: 0 };
    const t = await table("release", FOUR);
    const a = worker(t, "a", clock);
    await a.takeRound();
    await a.stop();
    const b = worker(t, "b", clock);
    await b.takeRound();
    expect(count(await owners(t), "b")).toBe(4);
    const leases: Lease[] = await t.list();
    expect(leases.every((l) => l.ownerSwitchesSinceCheckpoint === 2)).toBe(true);
  });
});
