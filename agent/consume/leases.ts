import {
  type AttributeValue,
  type DynamoDBClient,
  PutItemCommand,
  ScanCommand,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import { errorCode } from "../sinks/kinesis/client.js";
import { ensureTable } from "./dynamo.js";

/** Checkpoint values that are not sequence numbers, as the KCL spells them. */
export const TRIM_HORIZON = "TRIM_HORIZON";
export const LATEST = "LATEST";
export const SHARD_END = "SHARD_END";

/** One shard's lease: the item in the lease table, with the KCL's attribute names. */
export interface Lease {
  /** The shard id. */
  leaseKey: string;
  leaseOwner?: string | undefined;
  /** Moves on every take, renewal and checkpoint: a counter that stands still means a dead owner. */
  leaseCounter: number;
  /** A sequence number, TRIM_HORIZON, LATEST or SHARD_END. */
  checkpoint: string;
  parentShardIds: string[];
  ownerSwitchesSinceCheckpoint: number;
  /** From the last GetRecords before the checkpoint: how far this shard's reader is behind. */
  millisBehindLatest?: number | undefined;
  /** When the checkpoint last moved (ISO time), for `--leases`. */
  checkpointAt?: string | undefined;
}

const S = (s: string): AttributeValue => ({ S: s });
const N = (n: number): AttributeValue => ({ N: String(n) });

function fromItem(it: Record<string, AttributeValue>): Lease {
  const num = (k: string) => (it[k]?.N !== undefined ? Number(it[k].N) : undefined);
  return {
    leaseKey: it.leaseKey?.S ?? "",
    leaseOwner: it.leaseOwner?.S,
    leaseCounter: num("leaseCounter") ?? 0,
    checkpoint: it.checkpoint?.S ?? TRIM_HORIZON,
    parentShardIds: it.parentShardIds?.L?.map((v) => v.S ?? "") ?? [],
    ownerSwitchesSinceCheckpoint: num("ownerSwitchesSinceCheckpoint") ?? 0,
    millisBehindLatest: num("millisBehindLatest"),
    checkpointAt: it.checkpointAt?.S,
  };
}

/**
 * The lease table (one item per shard, partition key `leaseKey`) and the only operations on it.
 * Every change after creation is an UpdateItem conditional on the counter the caller last saw
 * (and, for renewals and checkpoints, on the caller still being the owner), and moves the
 * counter: whoever changed the lease last wins, everybody else finds out on their next write.
 * Methods answer `undefined` when the condition failed (the lease is not what the caller
 * thought) and throw on anything else (network, throttling: the caller tries again).
 */
export class LeaseTable {
  constructor(
    private readonly ddb: DynamoDBClient,
    readonly name: string,
  ) {}

  ensure(signal?: AbortSignal): Promise<void> {
    return ensureTable(this.ddb, this.name, "leaseKey", signal);
  }

  async list(signal?: AbortSignal): Promise<Lease[]> {
    const out: Lease[] = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      const res = await this.ddb.send(
        new ScanCommand({ TableName: this.name, ConsistentRead: true, ExclusiveStartKey: start }),
        signal ? { abortSignal: signal } : {},
      );
      for (const it of res.Items ?? []) out.push(fromItem(it));
      start = res.LastEvaluatedKey;
    } while (start);
    return out.sort((a, b) => a.leaseKey.localeCompare(b.leaseKey));
  }

  /** Adds a lease for a new shard; false when one exists (another worker was first). */
  async create(key: string, parents: readonly string[], checkpoint: string): Promise<boolean> {
    try {
      await this.ddb.send(
        new PutItemCommand({
          TableName: this.name,
          Item: {
            leaseKey: S(key),
            leaseCounter: N(0),
            checkpoint: S(checkpoint),
            parentShardIds: { L: parents.map(S) },
            ownerSwitchesSinceCheckpoint: N(0),
          },
          ConditionExpression: "attribute_not_exists(leaseKey)",
        }),
      );
      return true;
    } catch (err) {
      if (errorCode(err) === "ConditionalCheckFailedException") return false;
      throw err;
    }
  }

  /** Takes (or steals) a lease whose counter is still `seen.leaseCounter`. */
  take(seen: Lease, owner: string): Promise<Lease | undefined> {
    return this.update(seen, "SET leaseOwner = :me, ownerSwitchesSinceCheckpoint = :sw", {
      expect: "counter",
      values: { ":me": S(owner), ":sw": N(seen.ownerSwitchesSinceCheckpoint + 1) },
      apply: { leaseOwner: owner, ownerSwitchesSinceCheckpoint: seen.ownerSwitchesSinceCheckpoint + 1 },
    });
  }

  /** Moves the counter of a lease `held` by `held.leaseOwner`: "still alive". */
  renew(held: Lease): Promise<Lease | undefined> {
    return this.update(held, "", { expect: "owner" });
  }

  /** Stores a checkpoint, only while the lease is still the caller's at the counter it holds. */
  checkpoint(held: Lease, checkpoint: string, millisBehindLatest?: number): Promise<Lease | undefined> {
    const at = new Date().toISOString();
    const values: Record<string, AttributeValue> = { ":cp": S(checkpoint), ":at": S(at), ":zero": N(0) };
    let set = "SET checkpoint = :cp, checkpointAt = :at, ownerSwitchesSinceCheckpoint = :zero";
    if (millisBehindLatest !== undefined) {
      set += ", millisBehindLatest = :behind";
      values[":behind"] = N(millisBehindLatest);
    }
    return this.update(held, set, {
      expect: "owner",
      values,
      apply: { checkpoint, checkpointAt: at, ownerSwitchesSinceCheckpoint: 0, millisBehindLatest },
    });
  }

  /** Gives a held lease back (clean shutdown) so another worker takes it without waiting. */
  release(held: Lease): Promise<Lease | undefined> {
    return this.update(held, "REMOVE leaseOwner", { expect: "owner", apply: { leaseOwner: undefined } });
  }

  private async update(
    lease: Lease,
    action: string,
    o: { expect: "counter" | "owner"; values?: Record<string, AttributeValue>; apply?: Partial<Lease> },
  ): Promise<Lease | undefined> {
    const next = lease.leaseCounter + 1;
    // UpdateExpression clauses: SET …, REMOVE …; the counter always moves.
    const counter = "leaseCounter = :next";
    const expr = action.startsWith("SET")
      ? `${action}, ${counter}`
      : `SET ${counter}${action ? ` ${action}` : ""}`;
    const values: Record<string, AttributeValue> = {
      ":old": N(lease.leaseCounter),
      ":next": N(next),
      ...o.values,
    };
    let cond = "leaseCounter = :old";
    if (o.expect === "owner") {
      cond += " AND leaseOwner = :owner";
      values[":owner"] = S(lease.leaseOwner ?? "");
    }
    try {
      await this.ddb.send(
        new UpdateItemCommand({
          TableName: this.name,
          Key: { leaseKey: S(lease.leaseKey) },
          UpdateExpression: expr,
          ConditionExpression: cond,
          ExpressionAttributeValues: values,
        }),
      );
    } catch (err) {
      if (errorCode(err) === "ConditionalCheckFailedException") return undefined;
      throw err;
    }
    return { ...lease, ...o.apply, leaseCounter: next };
  }
}
