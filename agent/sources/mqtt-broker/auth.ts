import { timingSafeEqual } from "node:crypto";
import type { TLSSocket } from "node:tls";
import type { AuthenticateError, AuthenticateHandler, Client } from "aedes";
import { type Acl, clientIdAllowed, substitute, unsafeIdentity } from "./acl.js";
import type { BrokerUser, MqttBrokerSourceConfig } from "./config.js";
import type { LoginLimiter } from "./limits.js";
import type { Refuse, RefuseReason } from "./metrics.js";
import type { SessionInfo } from "./persistence.js";

/**
 * CONNECT checks, in order: the remote address is not locked out by failed logins; the identity
 * (password, or the client certificate with `useIdentityAsUsername`); the client id is safe in
 * the user's ACL patterns and one the user may use; no other user holds that client id; a new
 * persistent session fits. Then the client gets its grants (see acl.ts).
 */

/** CONNACK return codes (AuthErrorCode is a const enum aedes does not export at run time). */
const IDENTIFIER_REJECTED = 2;
const SERVER_UNAVAILABLE = 3;
const BAD_USERNAME_OR_PASSWORD = 4;
const NOT_AUTHORIZED = 5;

function sameSecret(given: Buffer | undefined, expected: Buffer): boolean {
  if (given === undefined || given.length !== expected.length) return false;
  return timingSafeEqual(given, expected);
}

/** The certificate's CN, else its first DNS or email SAN (Mosquitto's use_identity_as_username reads the CN). */
export function certificateIdentity(conn: unknown): string | undefined {
  const sock = conn as Partial<TLSSocket>;
  if (typeof sock.getPeerCertificate !== "function" || sock.authorized !== true) return undefined;
  const cert = sock.getPeerCertificate();
  const cn = cert.subject?.CN as string | string[] | undefined;
  const first = Array.isArray(cn) ? cn[0] : cn;
  if (first) return first;
  const san = /(?:^|,\s*)(?:DNS|email):([^,]+)/.exec(cert.subjectaltname ?? "");
  return san?.[1]?.trim() || undefined;
}

function remoteAddress(client: Client): string {
  return (client.conn as { remoteAddress?: string } | undefined)?.remoteAddress ?? "unknown";
}

export interface Authenticator {
  authenticate: AuthenticateHandler;
  /** The connection closed: its client id is free again (unless another connection took it over). */
  forget(client: Client): void;
}

export function authenticator(
  cfg: MqttBrokerSourceConfig,
  acl: Acl,
  limiter: LoginLimiter,
  sessions: SessionInfo,
  refuse: Refuse,
): Authenticator {
  const users: readonly BrokerUser[] =
    cfg.auth === undefined ? [] : Array.isArray(cfg.auth) ? cfg.auth : [cfg.auth];
  const known = users.map((u) => ({
    user: Buffer.from(u.username),
    pass: u.password === undefined ? undefined : Buffer.from(u.password),
    cfg: u,
  }));
  const byCertificate = cfg.tls?.useIdentityAsUsername === true;
  /** Who holds each client id: a second user may not take it over. */
  const owners = new Map<string, { client: Client; username: string | undefined }>();

  function findUser(username: string | undefined, password: Buffer | undefined): BrokerUser | undefined {
    const given = username === undefined ? undefined : Buffer.from(username);
    // Compare against every user, so timing does not tell which usernames exist.
    let match: BrokerUser | undefined;
    for (const k of known)
      if (k.pass !== undefined && sameSecret(given, k.user) && sameSecret(password, k.pass)) match ??= k.cfg;
    return match;
  }

  const authenticate: AuthenticateHandler = (client, username, password, done) => {
    const address = remoteAddress(client);
    const fail = (code: number, reason: RefuseReason, detail: string): void => {
      refuse(reason, 1, { clientId: client.id, address, detail }, "mqtt client refused at CONNECT");
      const err = new Error(detail) as AuthenticateError;
      err.returnCode = code;
      done(err, null);
    };
    if (limiter.blocked(address))
      return fail(NOT_AUTHORIZED, "login-rate", `too many failed logins from ${address}`);

    let name = username;
    if (byCertificate) {
      name = certificateIdentity(client.conn);
      if (name === undefined)
        return fail(NOT_AUTHORIZED, "not-authorized", "no identity in the client certificate");
    }
    let user: BrokerUser | undefined;
    if (users.length > 0) {
      user = byCertificate ? users.find((u) => u.username === name) : findUser(name, password);
      if (user === undefined) {
        if (byCertificate)
          return fail(NOT_AUTHORIZED, "not-authorized", `certificate identity is not a configured user`);
        limiter.failed(address);
        return fail(BAD_USERNAME_OR_PASSWORD, "bad-credentials", "bad username or password");
      }
    }

    const identity = { clientId: client.id, username: name };
    const publish = user?.publish ?? user?.topics;
    const subscribe = user?.subscribe ?? cfg.subscribe;
    const patterns = [...(publish ?? []), ...subscribe, ...(user?.clientIds ?? [])];
    const unsafe = unsafeIdentity(patterns, identity);
    if (unsafe !== undefined) return fail(IDENTIFIER_REJECTED, "client-id", unsafe);
    if (user?.clientIds !== undefined && !clientIdAllowed(substitute(user.clientIds, identity), client.id))
      return fail(IDENTIFIER_REJECTED, "client-id", `client id not allowed for user ${name ?? ""}`);

    const owner = owners.get(client.id);
    // MQTT lets a client id take over its own session; another user's it may not.
    if (owner !== undefined && owner.client !== client && !owner.client.closed && owner.username !== name)
      return fail(IDENTIFIER_REJECTED, "client-id-taken", "client id in use by another user");

    if (!client.clean && !sessions.hasSession(client.id) && sessions.sessionCount >= cfg.limits.maxSessions)
      return fail(
        SERVER_UNAVAILABLE,
        "session-limit",
        `${cfg.limits.maxSessions} persistent sessions already`,
      );

    owners.set(client.id, { client, username: name });
    acl.grant(client, {
      username: name,
      publish: publish === undefined ? undefined : substitute(publish, identity),
      subscribe: substitute(subscribe, identity),
    });
    done(null, true);
  };

  return {
    authenticate,
    forget(client) {
      if (client.id && owners.get(client.id)?.client === client) owners.delete(client.id);
    },
  };
}
