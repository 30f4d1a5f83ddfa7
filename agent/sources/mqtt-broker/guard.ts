import { timingSafeEqual } from "node:crypto";
import type { AuthenticateError, AuthenticateHandler, Client } from "aedes";

/**
 * Connection guards: the packet size limit and username/password authentication.
 *
 * Neither aedes nor mqtt-packet limits packet size: the parser buffers a whole packet (up to
 * MQTT's 256 MiB) before aedes sees it. So the limit is enforced on the client's parser as soon as
 * the fixed header's remaining length is known, before any of the body is buffered. MQTT 3.1.1
 * has no way to refuse one packet and keep the stream in sync without reading it, and MQTT 5
 * says to disconnect (reason 0x95), so an oversized packet closes that client's connection; it is
 * counted as `too-large`. Other clients are unaffected, and well-behaved devices reconnect.
 */

interface PacketParser {
  packet: { cmd?: string; length: number };
  _parseLength(): boolean;
  _emitError(err: Error): void;
}

export function limitPacketSize(
  client: Client,
  maxPacketSize: number,
  onTooLarge: (cmd: string, length: number) => void,
): void {
  const parser = (client as unknown as { _parser?: PacketParser })._parser;
  if (parser === undefined || typeof parser._parseLength !== "function") {
    throw new Error("aedes client has no mqtt-packet parser: cannot enforce maxPacketSize");
  }
  const parseLength = parser._parseLength;
  parser._parseLength = function guardedParseLength(this: PacketParser): boolean {
    if (!parseLength.call(this)) return false;
    if (this.packet.length <= maxPacketSize) return true;
    onTooLarge(this.packet.cmd ?? "unknown", this.packet.length);
    this._emitError(
      new Error(`packet of ${this.packet.length} bytes exceeds maxPacketSize ${maxPacketSize}`),
    );
    return false;
  };
}

function sameSecret(given: Buffer | undefined, expected: Buffer): boolean {
  if (given === undefined || given.length !== expected.length) return false;
  return timingSafeEqual(given, expected);
}

export function passwordAuth(
  auth: { username: string; password: string },
  onFailure: (clientId: string) => void,
): AuthenticateHandler {
  const user = Buffer.from(auth.username);
  const pass = Buffer.from(auth.password);
  return (client, username, password, done) => {
    const ok =
      sameSecret(username === undefined ? undefined : Buffer.from(username), user) &&
      sameSecret(password, pass);
    if (ok) return done(null, true);
    onFailure(client.id);
    const err = new Error("bad username or password") as AuthenticateError;
    // 4 = CONNACK "bad user name or password" (AuthErrorCode is a const enum aedes does not export at run time).
    err.returnCode = 4;
    done(err, null);
  };
}
