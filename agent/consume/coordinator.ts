import { backoffDelay, sleep } from "../backoff.js";
import { errorCode } from "../sinks/kinesis/client.js";
import { type Logger, silentLogger } from "../telemetry/logger.js";
import { type Lease, type LeaseTable, SHARD_END } from "./leases.js";

export interface CoordinatorOptions {
  worker: string;
  /** Failover time: a lease whose counter has not moved for this long is free to take. */
  leaseMs: number;
  log?: Logger;
  now?: () => number;
}

interface Held {
  lease: Lease;
  /** Local time of the last successful write to this lease. */
  renewedAt: number;
  /** Writes to one lease go one after another: each is conditional on the counter the last one set. */
  chain: Promise<unknown>;
}

/** What another worker's lease looked like when the counter last moved. */
interface Seen {
  counter: number;
  since: number;
}

/**
 * The KCL's lease coordination for one worker: renews its leases every third of the failover
 * time (checked every quarter), and takes leases — unowned ones at once, expired ones (counter still for `leaseMs`) and,
 * when a worker joins, at most one stolen from the busiest worker per round — until it holds its
 * share. A lease is offered only once every parent shard's lease reached SHARD_END, so a parent
 * is finished before its children. A worker that could not renew a lease for `leaseMs` stops
 * using it; the lease table's conditions fence everything else.
 */
export class LeaseCoordinator {
  private readonly held = new Map<string, Held>();
  private readonly seen = new Map<string, Seen>();
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly stopped = new AbortController();
  private loop?: Promise<void>;
  /** Every lease as of the last scan, for the consumer's shard list and for `--leases`. */
  all: Lease[] = [];

  constructor(
    private readonly table: LeaseTable,
    private readonly o: CoordinatorOptions,
  ) {
    this.log = o.log ?? silentLogger();
    this.now = o.now ?? Date.now;
  }

  get worker(): string {
    return this.o.worker;
  }

  /** The leases this worker may act on now (renewed within the failover time). */
  owned(): Map<string, Lease> {
    const out = new Map<string, Lease>();
    const t = this.now();
    for (const [k, h] of this.held) if (t - h.renewedAt < this.o.leaseMs) out.set(k, h.lease);
    return out;
  }

  start(): void {
    this.loop ??= this.run();
  }

  private async run(): Promise<void> {
    const signal = this.stopped.signal;
    let failures = 0;
    let nextTake = 0;
    while (!signal.aborted) {
      try {
        await this.renewAll();
        if (this.now() >= nextTake) {
          await this.takeRound();
          // Scanning every quarter of the failover time bounds how late an expiry is noticed.
          nextTake = this.now() + this.o.leaseMs / 4;
        }
        failures = 0;
        await sleep(this.o.leaseMs / 4, signal);
      } catch (err) {
        const code = errorCode(err);
        this.log.warn({ code, err: (err as Error).message }, "lease table call failed; retrying");
        await sleep(backoffDelay(failures++, { initialMs: 100, maxMs: this.o.leaseMs / 3 }), signal);
      }
    }
  }

  /** One write to a held lease, after any still in flight; drops the lease when the condition fails. */
  private write(key: string, op: (l: Lease) => Promise<Lease | undefined>): Promise<boolean> {
    const h = this.held.get(key);
    if (!h) return Promise.resolve(false);
    const run = h.chain.then(async () => {
      if (this.held.get(key) !== h) return false;
      const next = await op(h.lease);
      if (!next) {
        this.held.delete(key);
        this.log.info({ shard: key, worker: this.o.worker }, "lease lost to another worker");
        return false;
      }
      h.lease = next;
      h.renewedAt = this.now();
      return true;
    });
    h.chain = run.catch(() => undefined);
    return run;
  }

  /** Renews every held lease once (the loop does this every third of the failover time). */
  async renewAll(): Promise<void> {
    await Promise.all([...this.held.keys()].map((k) => this.write(k, (l) => this.table.renew(l))));
  }

  /**
   * Stores a checkpoint for a held lease: false when the lease is no longer this worker's (the
   * conditional write failed, so the checkpoint did not move) — the caller stops reading it.
   */
  checkpoint(key: string, checkpoint: string, millisBehindLatest?: number): Promise<boolean> {
    if (!this.owned().has(key)) return Promise.resolve(false);
    return this.write(key, (l) => this.table.checkpoint(l, checkpoint, millisBehindLatest)).then((ok) => {
      // A finished shard needs no more renewals; its children become available to take.
      if (ok && checkpoint === SHARD_END) this.held.delete(key);
      return ok;
    });
  }

  /** Adds leases for shards not yet in the table (any worker may; the first one wins). */
  async addShards(shards: readonly { id: string; parents: string[]; checkpoint: string }[]): Promise<void> {
    const known = new Set(this.all.map((l) => l.leaseKey));
    for (const s of shards) {
      if (known.has(s.id)) continue;
      if (await this.table.create(s.id, s.parents, s.checkpoint))
        this.log.info({ shard: s.id, parents: s.parents }, "lease created");
    }
  }

  /** One round of the KCL's LeaseTaker. */
  async takeRound(): Promise<void> {
    const t = this.now();
    this.all = await this.table.list(this.stopped.signal);
    const byKey = new Map(this.all.map((l) => [l.leaseKey, l]));
    for (const l of this.all) {
      const s = this.seen.get(l.leaseKey);
      if (!s || s.counter !== l.leaseCounter)
        this.seen.set(l.leaseKey, { counter: l.leaseCounter, since: t });
    }
    const expired = (l: Lease) =>
      !l.leaseOwner || t - (this.seen.get(l.leaseKey)?.since ?? t) >= this.o.leaseMs;
    // Work left to do: not finished, and every parent still in the table finished.
    const active = this.all.filter(
      (l) =>
        l.checkpoint !== SHARD_END &&
        l.parentShardIds.every((p) => (byKey.get(p)?.checkpoint ?? SHARD_END) === SHARD_END),
    );
    const counts = new Map<string, number>([[this.o.worker, 0]]);
    for (const l of active)
      if (l.leaseOwner && !expired(l)) counts.set(l.leaseOwner, (counts.get(l.leaseOwner) ?? 0) + 1);
    const mine = [...this.held.keys()].filter((k) => active.some((l) => l.leaseKey === k)).length;
    const target = Math.ceil(active.length / counts.size);
    let want = target - mine;
    if (want <= 0) return;
    // Free: expired, or recorded as this worker's by an earlier life of it (restarted, same name).
    const free = active.filter(
      (l) => !this.held.has(l.leaseKey) && (l.leaseOwner === this.o.worker || expired(l)),
    );
    for (const l of shuffle(free)) {
      if (want <= 0) break;
      const why = !l.leaseOwner
        ? "unowned"
        : l.leaseOwner === this.o.worker
          ? "ours before a restart"
          : "expired";
      if (await this.takeOne(l, why)) want--;
    }
    if (free.length > 0) return;
    // Nothing free: a worker has joined. Steal one lease from the busiest worker, if it has
    // more than its share or at least two more than this one, and leave the rest for later rounds.
    let busiest: [string, number] | undefined;
    for (const [w, n] of counts) if (w !== this.o.worker && (!busiest || n > busiest[1])) busiest = [w, n];
    if (!busiest || !(busiest[1] > target || busiest[1] - mine >= 2)) return;
    const victim = shuffle(active.filter((l) => l.leaseOwner === busiest[0]))[0];
    if (victim) await this.takeOne(victim, `stolen from ${busiest[0]}`);
  }

  private async takeOne(l: Lease, why: string): Promise<boolean> {
    const got = await this.table.take(l, this.o.worker);
    if (!got) return false;
    this.held.set(l.leaseKey, { lease: got, renewedAt: this.now(), chain: Promise.resolve() });
    this.log.info({ shard: l.leaseKey, worker: this.o.worker, why }, "lease taken");
    return true;
  }

  /** Stops renewing; with `release`, gives every held lease back so others need not wait. */
  async stop(release = true): Promise<void> {
    this.stopped.abort();
    await this.loop?.catch(() => undefined);
    if (release) {
      await Promise.all(
        [...this.held.keys()].map((k) => this.write(k, (l) => this.table.release(l)).catch(() => false)),
      );
    }
    this.held.clear();
  }
}

function shuffle<T>(xs: T[]): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}
