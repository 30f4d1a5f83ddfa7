import type { Client } from "aedes";
import { topicMatches } from "../../parse/index.js";

/**
 * Access control of the embedded broker: what each connected client may publish to, subscribe
 * to and receive, fixed at CONNECT from its user (or the source defaults without `auth`).
 */

/**
 * True when every topic `requested` can match is also matched by `granted`: may a client
 * granted `granted` subscribe to `requested`? A wildcard first level of `granted` never covers
 * `$` topics (MQTT 4.7.2), so `$SYS/#` needs a grant that starts with `$SYS`.
 */
export function filterCovers(granted: string, requested: string): boolean {
  const g = granted.split("/");
  const r = requested.split("/");
  const dollar = requested.startsWith("$");
  for (let i = 0; i < g.length; i++) {
    const level = g[i]!;
    if (level === "#") return !(i === 0 && dollar);
    if (i >= r.length) return false;
    const want = r[i]!;
    if (want === "#") return false;
    if (level === "+") {
      if (i === 0 && dollar) return false;
      continue;
    }
    if (level !== want) return false;
  }
  return g.length === r.length;
}

/** Characters that must not come from a client into an ACL pattern: they would widen it or move it. */
const UNSAFE_IN_PATTERN = /[+#/]/;

/**
 * Why an identity cannot be used, or undefined. A client id or username with `+` or `#` would
 * turn `sensors/{clientId}/#` into a wildcard (Mosquitto's CVE-2017-7650), and one with `/`
 * would land inside another device's subtree, so where a filter uses `{clientId}` or
 * `{username}` those are refused. Only there: ids with `/` are common (OwnTracks, govee2mqtt,
 * OpenBeken) and harmless elsewhere.
 */
export function unsafeIdentity(
  filters: readonly string[],
  identity: { clientId: string; username: string | undefined },
): string | undefined {
  const uses = (v: string) => filters.some((f) => f.includes(v));
  if (uses("{clientId}") && UNSAFE_IN_PATTERN.test(identity.clientId))
    return "client id with '+', '#' or '/' where an ACL uses {clientId}";
  if (uses("{username}")) {
    if (identity.username === undefined) return "no username where an ACL uses {username}";
    if (UNSAFE_IN_PATTERN.test(identity.username))
      return "username with '+', '#' or '/' where an ACL uses {username}";
  }
  return undefined;
}

export function substitute(
  filters: readonly string[],
  identity: { clientId: string; username: string | undefined },
): string[] {
  return filters.map((f) =>
    f.replaceAll("{username}", identity.username ?? "").replaceAll("{clientId}", identity.clientId),
  );
}

/** `clientIds` patterns (already substituted): exact ids, or prefixes ending in `*`. */
export function clientIdAllowed(patterns: readonly string[], clientId: string): boolean {
  return patterns.some((p) => (p.endsWith("*") ? clientId.startsWith(p.slice(0, -1)) : clientId === p));
}

export interface Grant {
  readonly username: string | undefined;
  /** Filters the client may publish to; undefined = anything the source's `topics` accepts. */
  readonly publish: readonly string[] | undefined;
  readonly subscribe: readonly string[];
}

/** Per-client grants, fixed at CONNECT. A client without one (not yet authenticated) may do nothing. */
export class Acl {
  private readonly grants = new WeakMap<Client, Grant>();

  grant(client: Client, grant: Grant): void {
    this.grants.set(client, grant);
  }

  of(client: Client | null): Grant | undefined {
    return client === null ? undefined : this.grants.get(client);
  }

  mayPublish(client: Client | null, topic: string): boolean {
    const g = this.of(client);
    if (g === undefined) return client === null; // the broker's own publishes (wills go through here too)
    return g.publish === undefined || g.publish.some((f) => topicMatches(f, topic));
  }

  maySubscribe(client: Client, filter: string): boolean {
    const g = this.of(client);
    return g !== undefined && g.subscribe.some((f) => filterCovers(f, filter));
  }

  /** Checked again on delivery, so nothing reaches a client its grants do not cover. */
  mayReceive(client: Client, topic: string): boolean {
    const g = this.of(client);
    return g !== undefined && g.subscribe.some((f) => topicMatches(f, topic));
  }
}
