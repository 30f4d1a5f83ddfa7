import { scrub } from "./redact.js";

/**
 * Component health. Each component (a source, a sink's shipper, the spool, housekeeping) reports
 * its own state here; `/healthz`, `edgespool status`, the status page and the systemd watchdog
 * only read the aggregate. A component that never reported is not counted.
 */
export type ComponentKind = "source" | "sink" | "spool" | "loop";

export interface ComponentState {
  readonly ok: boolean;
  /** Why it is failing, in words a person can act on ("sink failing for 4 min: HTTP 503"). */
  readonly reason?: string;
}

export interface ComponentHealth extends ComponentState {
  readonly name: string;
  readonly kind: ComponentKind;
  /** Epoch ms of the last change between ok and failing. */
  readonly since: number;
}

export interface HealthSnapshot {
  readonly status: "ok" | "failing";
  readonly components: readonly ComponentHealth[];
}

export class Health {
  private readonly components = new Map<string, ComponentHealth>();

  constructor(private readonly now: () => number = Date.now) {}

  report(kind: ComponentKind, name: string, state: ComponentState): void {
    const key = `${kind}:${name}`;
    const prev = this.components.get(key);
    const since = prev && prev.ok === state.ok ? prev.since : this.now();
    this.components.set(key, {
      name,
      kind,
      ok: state.ok,
      // Reasons reach /healthz and the status page: no URL userinfo or config secrets in them.
      reason: state.ok || state.reason === undefined ? undefined : scrub(state.reason),
      since,
    });
  }

  /** A component that no longer exists (a sink removed by a reload). */
  forget(kind: ComponentKind, name: string): void {
    this.components.delete(`${kind}:${name}`);
  }

  snapshot(): HealthSnapshot {
    const components = [...this.components.values()];
    return { status: components.every((c) => c.ok) ? "ok" : "failing", components };
  }
}

/** What `/healthz` answers and `edgespool status --json` shows under `health`. */
export interface HealthBody {
  status: "ok" | "failing";
  failing: { kind: ComponentKind; name: string; reason: string; since: string }[];
  components: { kind: ComponentKind; name: string; ok: boolean; since: string }[];
}

export function healthBody(snap: HealthSnapshot): HealthBody {
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    status: snap.status,
    failing: snap.components
      .filter((c) => !c.ok)
      .map((c) => ({ kind: c.kind, name: c.name, reason: c.reason ?? "failing", since: iso(c.since) })),
    components: snap.components.map((c) => ({ kind: c.kind, name: c.name, ok: c.ok, since: iso(c.since) })),
  };
}
