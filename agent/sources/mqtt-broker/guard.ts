import type { Client } from "aedes";

/**
 * The packet size limit of each connection.
 *
 * Neither aedes nor mqtt-packet limits packet size: the parser buffers a whole packet (up to
 * MQTT's 256 MiB) before aedes sees it. So the limit is enforced on each client's parser as soon
 * as a fixed header announces more than `maxPacketSize` bytes (remaining length):
 *
 * - a PUBLISH: only its topic and packet id are read; the body is discarded as it streams in,
 *   never buffered; then aedes receives an empty stand-in PUBLISH (same topic, QoS, packet id)
 *   whose payload is marked, so the publish path counts it as `too-large` and acknowledges it in
 *   its place. The client stays connected, and a device does not resend the same oversized
 *   message forever (which a disconnect would cause, blocking everything queued behind it);
 * - any other packet type: counted as `too-large` and the connection is closed.
 */

interface PacketParser {
  packet: { cmd?: string | null; length: number; qos: number; dup: boolean };
  _list: { length: number; slice(): Buffer };
  parse(buf: Buffer): number;
  _parseLength(): boolean;
  _emitError(err: Error): void;
  _resetState(): void;
  emit(event: "packet", packet: unknown): boolean;
}

/** Marks the payloads of stand-in packets; the publish path refuses them as too-large. */
export class OversizeMarks {
  private readonly marks = new WeakMap<object, string>();

  mark(detail: string): Buffer {
    const payload = Buffer.alloc(0);
    this.marks.set(payload, detail);
    return payload;
  }

  detail(payload: object): string | undefined {
    return this.marks.get(payload);
  }
}

interface Oversized {
  total: number;
  qos: number;
  dup: boolean;
  /** Bytes of topic and packet id gathered so far. */
  head: Buffer;
  /** The stand-in packet, once the head is complete. */
  stand?: object;
  /** Body bytes still to discard. */
  skip: number;
}

export function limitPacketSize(
  client: Client,
  maxPacketSize: number,
  marks: OversizeMarks,
  onFatal: (cmd: string, length: number) => void,
): void {
  const found = (client as unknown as { _parser?: PacketParser })._parser;
  if (
    found === undefined ||
    typeof found._parseLength !== "function" ||
    typeof found._resetState !== "function"
  ) {
    throw new Error("aedes client has no mqtt-packet parser: cannot enforce maxPacketSize");
  }
  const parser: PacketParser = found;
  const parse = parser.parse;
  const parseLength = parser._parseLength;
  let big: Oversized | undefined;
  let detected = false;

  parser._parseLength = function guardedParseLength(this: PacketParser): boolean {
    if (!parseLength.call(this)) return false;
    const { cmd, length, qos, dup } = this.packet;
    if (length <= maxPacketSize) return true;
    if (cmd !== "publish") {
      onFatal(cmd ?? "unknown", length);
      this._emitError(new Error(`${cmd} packet of ${length} bytes exceeds maxPacketSize ${maxPacketSize}`));
      return false;
    }
    big = { total: length, qos, dup, head: Buffer.alloc(0), skip: -1 };
    detected = true;
    return false;
  };

  const feed = (input: Buffer): void => {
    const b = big!;
    let buf = input;
    if (b.stand === undefined) {
      b.head = b.head.length === 0 ? buf : Buffer.concat([b.head, buf]);
      if (b.head.length < 2) return;
      const topicLen = b.head.readUInt16BE(0);
      const need = 2 + topicLen + (b.qos > 0 ? 2 : 0);
      if (need > b.total) {
        big = undefined;
        parser._emitError(new Error("malformed PUBLISH header"));
        return;
      }
      if (b.head.length < need) return;
      b.stand = {
        cmd: "publish",
        retain: false,
        qos: b.qos,
        dup: b.dup,
        length: need,
        topic: b.head.toString("utf8", 2, 2 + topicLen),
        payload: marks.mark(`PUBLISH of ${b.total} bytes, maxPacketSize ${maxPacketSize}`),
        ...(b.qos > 0 ? { messageId: b.head.readUInt16BE(2 + topicLen) } : {}),
      };
      b.skip = b.total - need;
      buf = b.head.subarray(need);
      b.head = Buffer.alloc(0);
    }
    const n = Math.min(b.skip, buf.length);
    b.skip -= n;
    if (b.skip > 0) return;
    big = undefined;
    parser.emit("packet", b.stand);
    if (buf.length > n) guardedParse(buf.subarray(n));
  };

  function guardedParse(buf: Buffer): number {
    if (big !== undefined) {
      feed(buf);
      return 0;
    }
    const left = parse.call(parser, buf);
    if (!detected) return left;
    detected = false;
    // The parser stopped after the fixed header: what it holds belongs to the oversized packet
    // (and possibly the packets after it); take it back and start the parser afresh.
    const rest = parser._list.length > 0 ? parser._list.slice() : Buffer.alloc(0);
    parser._resetState();
    if (rest.length > 0) feed(rest);
    return 0;
  }
  parser.parse = guardedParse;
}
