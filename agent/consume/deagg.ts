import { deaggregateSync } from "aws-kinesis-agg";
import { KPL_MAGIC } from "../sinks/kinesis/aggregate.js";
import { hashKeyOf } from "../sinks/kinesis/keys.js";

export interface UserRecord {
  partitionKey: string;
  data: Buffer;
}

export type Unpacked =
  | { kind: "ok"; users: UserRecord[] }
  /** An aggregate holding a user record outside the shard's hash range: KCL drops all of it. */
  | { kind: "out-of-shard"; count: number }
  | { kind: "corrupt"; error: string };

interface AggUserRecord {
  PartitionKey?: string;
  ExplicitPartitionKey?: string;
  Data?: string;
}

/**
 * KPL de-aggregation with aws-kinesis-agg (MD5 verified), plus the KCL shard check: an aggregate
 * is kept only when every user record's hash key (explicit, else MD5 of its partition key) lies in
 * the hash range of the shard it was read from. A shard-consistent producer resends what it
 * put on the wrong shard, so dropping such an aggregate loses nothing and matches KCL exactly.
 */
export function unpack(
  data: Uint8Array,
  partitionKey: string,
  range: { start: bigint; end: bigint },
): Unpacked {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (buf.length < KPL_MAGIC.length + 16 || !buf.subarray(0, KPL_MAGIC.length).equals(KPL_MAGIC)) {
    return { kind: "ok", users: [{ partitionKey, data: buf }] };
  }
  let users: AggUserRecord[] = [];
  let failure: string | undefined;
  // aws-kinesis-agg reports through a callback, synchronously; its typings name aws-lambda's record type.
  deaggregateSync(
    { Data: buf.toString("base64"), PartitionKey: partitionKey } as never,
    true,
    (err, recs) => {
      if (err) failure ??= err.message;
      else users = (recs ?? []) as unknown as AggUserRecord[];
    },
  );
  if (failure !== undefined) return { kind: "corrupt", error: failure };
  const out: UserRecord[] = [];
  for (const u of users) {
    const pk = u.PartitionKey ?? "";
    let hash: bigint;
    try {
      hash = u.ExplicitPartitionKey ? BigInt(u.ExplicitPartitionKey) : hashKeyOf(pk);
    } catch {
      return { kind: "corrupt", error: `bad explicit hash key ${u.ExplicitPartitionKey}` };
    }
    if (hash < range.start || hash > range.end) return { kind: "out-of-shard", count: users.length };
    out.push({ partitionKey: pk, data: Buffer.from(u.Data ?? "", "base64") });
  }
  return { kind: "ok", users: out };
}
