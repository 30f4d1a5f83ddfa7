import { createHash } from "node:crypto";

/**
 * The KPL aggregated record format (amazon-kinesis-producer/aggregation-format.md): magic
 * F3 89 9A C2, a protobuf `AggregatedRecord`, then the MD5 of the protobuf bytes.
 *
 *   AggregatedRecord { repeated string partition_key_table = 1; repeated string explicit_hash_key_table = 2;
 *                      repeated Record records = 3; }
 *   Record { required uint64 partition_key_index = 1; optional uint64 explicit_hash_key_index = 2;
 *            required bytes data = 3; repeated Tag tags = 4; }
 *
 * Encoded by hand rather than through aws-kinesis-agg's encoder: sizes here are exact in UTF-8
 * bytes (its estimate counts key characters), adding a record costs no allocation, and the
 * tests decode with aws-kinesis-agg, so the format is checked by an independent implementation.
 * User records carry no explicit hash key: the MD5 of their partition key places them, which is
 * what KCL checks against the shard's range.
 */

export const KPL_MAGIC = Buffer.from([0xf3, 0x89, 0x9a, 0xc2]);
/** Magic plus MD5 trailer. */
export const KPL_OVERHEAD = KPL_MAGIC.length + 16;

export function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function writeVarint(buf: Buffer, pos: number, n: number): number {
  while (n >= 0x80) {
    buf[pos++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[pos++] = n;
  return pos;
}

/** Bytes of a length-delimited field (tag + length + payload). */
function fieldSize(len: number): number {
  return 1 + varintSize(len) + len;
}

/** The encoded size of one user record alone in an aggregate: to refuse a reading that can never fit. */
export function singleAggregateSize(partitionKeyBytes: number, dataBytes: number): number {
  const inner = 1 + 1 + fieldSize(dataBytes);
  return KPL_OVERHEAD + fieldSize(partitionKeyBytes) + fieldSize(inner);
}

/** Collects user records for one shard until `maxBytes`, then encodes them in one pass. */
export class KplAggregate {
  private readonly keys = new Map<string, number>();
  private readonly keyBytes: Buffer[] = [];
  private readonly records: { keyIndex: number; data: Buffer; inner: number }[] = [];
  private bodySize = 0;

  /** `maxBytes` counts the whole Kinesis record: magic, protobuf, MD5 and the aggregate's partition key. */
  constructor(private readonly maxBytes: number) {}

  get count(): number {
    return this.records.length;
  }

  /** The first user record's partition key: the aggregate's own key. */
  get partitionKey(): string | undefined {
    return this.keyBytes[0]?.toString("utf8");
  }

  /** Size of the Kinesis record as it stands (data + the aggregate's partition key). */
  get size(): number {
    return KPL_OVERHEAD + this.bodySize + (this.keyBytes[0]?.length ?? 0);
  }

  /** Adds a user record if the aggregate stays within `limit` (default: the constructor's); false if not. */
  tryAdd(partitionKey: string, data: Buffer, limit = this.maxBytes): boolean {
    let keyIndex = this.keys.get(partitionKey);
    let growth = 0;
    let keyBuf: Buffer | undefined;
    if (keyIndex === undefined) {
      keyBuf = Buffer.from(partitionKey, "utf8");
      keyIndex = this.keyBytes.length;
      growth += fieldSize(keyBuf.length);
      if (keyIndex === 0) growth += keyBuf.length;
    }
    const inner = 1 + varintSize(keyIndex) + fieldSize(data.length);
    growth += fieldSize(inner);
    if (this.size + growth > Math.min(limit, this.maxBytes)) return false;
    if (keyBuf) {
      this.keys.set(partitionKey, keyIndex);
      this.keyBytes.push(keyBuf);
      this.bodySize += fieldSize(keyBuf.length);
    }
    this.records.push({ keyIndex, data, inner });
    this.bodySize += fieldSize(inner);
    return true;
  }

  encode(): Buffer {
    const out = Buffer.allocUnsafe(KPL_MAGIC.length + this.bodySize + 16);
    KPL_MAGIC.copy(out, 0);
    let pos = KPL_MAGIC.length;
    for (const k of this.keyBytes) {
      out[pos++] = 0x0a;
      pos = writeVarint(out, pos, k.length);
      pos += k.copy(out, pos);
    }
    for (const r of this.records) {
      out[pos++] = 0x1a;
      pos = writeVarint(out, pos, r.inner);
      out[pos++] = 0x08;
      pos = writeVarint(out, pos, r.keyIndex);
      out[pos++] = 0x1a;
      pos = writeVarint(out, pos, r.data.length);
      pos += r.data.copy(out, pos);
    }
    createHash("md5").update(out.subarray(KPL_MAGIC.length, pos)).digest().copy(out, pos);
    return out;
  }
}
