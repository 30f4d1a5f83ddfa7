import type { KinesisEndpoint } from "../sinks/kinesis/client.js";
import { createDynamoClient } from "./dynamo.js";
import { type Lease, LeaseTable, SHARD_END } from "./leases.js";

/** `edgespool consume --app NAME --leases`: who holds which shard, and how far behind each is. */
export async function leaseReport(app: string, endpoint: KinesisEndpoint): Promise<string> {
  const ddb = createDynamoClient(endpoint);
  try {
    return formatLeases(await new LeaseTable(ddb, app).list(), Date.now());
  } finally {
    ddb.destroy();
  }
}

function ago(iso: string | undefined, now: number): string {
  if (!iso) return "never";
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  return s < 120 ? `${s}s ago` : `${Math.round(s / 60)}m ago`;
}

function behind(l: Lease): string {
  if (l.checkpoint === SHARD_END) return "done";
  if (l.millisBehindLatest === undefined) return "?";
  return l.millisBehindLatest < 1000
    ? `${l.millisBehindLatest} ms`
    : `${(l.millisBehindLatest / 1000).toFixed(1)} s`;
}

/** A plain table, one line per lease, then one line per worker with its share. */
export function formatLeases(leases: readonly Lease[], now: number): string {
  if (leases.length === 0) return "no leases (has a worker of this app run yet?)\n";
  const rows = leases.map((l) => [
    l.leaseKey,
    l.leaseOwner ?? "-",
    String(l.leaseCounter),
    l.checkpoint.length > 24 ? `…${l.checkpoint.slice(-12)}` : l.checkpoint,
    behind(l),
    ago(l.checkpointAt, now),
    l.parentShardIds.join(",") || "-",
  ]);
  const head = ["shard", "owner", "counter", "checkpoint", "behind", "checkpointed", "parents"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => `${r.map((c, i) => c.padEnd(widths[i]!)).join("  ")}`.trimEnd();
  const owners = new Map<string, number>();
  for (const l of leases) {
    if (l.leaseOwner && l.checkpoint !== SHARD_END)
      owners.set(l.leaseOwner, (owners.get(l.leaseOwner) ?? 0) + 1);
  }
  const workers = [...owners].map(([w, n]) => `${w}: ${n} shard${n === 1 ? "" : "s"}`).join(", ");
  return `${[line(head), ...rows.map(line)].join("\n")}\n\nworkers: ${workers || "none"}\n`;
}
