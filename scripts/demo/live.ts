import type { AgentHandle } from "../../agent/runtime.js";
import type { Fleet, FleetEvent } from "../../simulator/fleet.js";
import type { RoomRow, Snapshot } from "./view.js";

const HISTORY = 60;
const FAULT_SHOWN_MS = 4000;

function faultText(e: Extract<FleetEvent, { kind: "message" | "dropout" }>): string | undefined {
  const t = e.truth;
  if (t.spike === "ds18b20-85") return "85 °C power-on";
  if (t.spike === "ds18b20-disconnected") return "−127 °C unplugged";
  if (t.spike === "glitch") return "glitch";
  if (t.malformed) return `malformed (${t.malformed})`;
  if (t.faults.includes("oversize")) return "oversized";
  if (t.faults.includes("dropout")) return "dropout";
  if (t.faults.includes("duplicate")) return "duplicate";
  if (t.faults.includes("reorder")) return "out of order";
  return undefined;
}

/** What the fleet sent, per room, as the view shows it: latest valid reading and recent history. */
export class LiveRooms {
  private readonly rows = new Map<
    string,
    { temp?: number; rh?: number; history: number[]; fault?: [string, number] }
  >();

  constructor(private readonly fleet: Fleet) {
    for (const r of fleet.rooms) this.rows.set(r.spec.name, { history: [] });
  }

  readonly onEvent = (e: FleetEvent): void => {
    if (e.kind === "storm") return;
    const row = this.rows.get(e.truth.room);
    if (!row) return;
    const fault = faultText(e);
    if (fault) row.fault = [fault, Date.now()];
    if (e.kind !== "message" || e.copy > 0 || !e.truth.valid) return;
    row.temp = e.truth.temperature;
    row.rh = e.truth.humidity;
    row.history.push(e.truth.temperature);
    if (row.history.length > HISTORY) row.history.shift();
  };

  snapshot(): RoomRow[] {
    const now = Date.now();
    return this.fleet.rooms.map((room) => {
      const row = this.rows.get(room.spec.name)!;
      const fault = row.fault && now - row.fault[1] < FAULT_SHOWN_MS ? row.fault[0] : undefined;
      return {
        name: room.spec.name,
        temperature: row.temp,
        humidity: row.rh,
        history: row.history,
        setpoint:
          room.spec.heaterW > 0
            ? room.setpoint(this.fleet.now, this.fleet.options.tzOffsetHours)
            : Number.NaN,
        heaterOn: room.heaterOn,
        windowOpen: room.windowOpen,
        occupants: room.occupants,
        fault,
      };
    });
  }
}

async function sum(metric: { get(): Promise<{ values: { value: number }[] }> }): Promise<number> {
  return (await metric.get()).values.reduce((a, v) => a + v.value, 0);
}

/** Reads the agent's counters and spool once a second and turns them into rates. */
export class AgentProbe {
  private last: { at: number; inTotal: number; shipped: Map<string, number> } | undefined;
  private readonly started = Date.now();

  constructor(private readonly handle: AgentHandle) {}

  async read(): Promise<
    Omit<Snapshot, "brokerUrl" | "note" | "simTime" | "speed" | "intervalMs" | "outsideC" | "rooms">
  > {
    const t = this.handle.telemetry;
    const inTotal = await sum(t.readingsIn);
    const rejects: [string, number][] = (await t.rejected.get()).values.map((v) => [
      String(v.labels.reason),
      v.value,
    ]);
    const duplicates = await sum(t.duplicates);
    const stats = this.handle.stats();
    const now = Date.now();
    const dt = this.last ? (now - this.last.at) / 1000 : 1;
    const sinks = stats.sinks.map((s) => ({
      id: s.sink,
      type: this.handle.config.sinks.find((c) => c.id === s.sink)?.type ?? "",
      shipped: s.shipped,
      perS: this.last ? (s.shipped - (this.last.shipped.get(s.sink) ?? s.shipped)) / dt : 0,
      depth: s.depth,
      oldestAgeMs: s.oldestAgeMs,
    }));
    const inPerS = this.last ? (inTotal - this.last.inTotal) / dt : 0;
    this.last = { at: now, inTotal, shipped: new Map(stats.sinks.map((s) => [s.sink, s.shipped])) };
    return {
      agentId: this.handle.config.agentId,
      dataDir: this.handle.config.dataDir,
      inPerS,
      inTotal,
      rejects,
      duplicates,
      spoolRecords: stats.records,
      spoolBytes: stats.bytes,
      sinks,
      uptimeS: Math.round((now - this.started) / 1000),
    };
  }
}
