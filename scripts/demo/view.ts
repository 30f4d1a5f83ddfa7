/**
 * The demo's live terminal view: a framed dashboard when stdout is a terminal, one plain line per
 * second when it is not (a pipe, a CI log). Pure functions from a snapshot to text.
 */

export interface RoomRow {
  name: string;
  /** Latest valid reading the room's thermometer sent, °C. */
  temperature: number | undefined;
  humidity: number | undefined;
  /** Recent valid readings, oldest first. */
  history: number[];
  setpoint: number;
  heaterOn: boolean;
  windowOpen: boolean;
  occupants: number;
  /** A fault the fleet injected here in the last few seconds, e.g. "spike 85 °C". */
  fault: string | undefined;
}

export interface SinkRow {
  id: string;
  type: string;
  shipped: number;
  perS: number;
  depth: number;
  oldestAgeMs: number;
}

export interface Snapshot {
  agentId: string;
  brokerUrl: string;
  /** The status page, when the agent's http listener is on. */
  pageUrl?: string | undefined;
  note: string | undefined;
  dataDir: string;
  simTime: number;
  speed: number;
  intervalMs: number;
  outsideC: number;
  inPerS: number;
  inTotal: number;
  rejects: [string, number][];
  duplicates: number;
  spoolRecords: number;
  spoolBytes: number;
  sinks: SinkRow[];
  rooms: RoomRow[];
  uptimeS: number;
}

const ESC = "\u001b[";
type Paint = (code: string, s: string) => string;
const painter =
  (on: boolean): Paint =>
  (code, s) =>
    on ? `${ESC}${code}m${s}${ESC}0m` : s;

const SPARK = "▁▂▃▄▅▆▇█";
/** Strips ANSI codes to measure what the eye sees. */
const ANSI = `${String.fromCharCode(27)}\\[[0-9;]*m`;
const visible = (s: string) => s.replace(new RegExp(ANSI, "g"), "").length;
/** Cuts to `w` visible characters, keeping colour codes intact. */
function clip(s: string, w: number): string {
  if (visible(s) <= w) return s;
  let out = "";
  let n = 0;
  for (const part of s.split(new RegExp(`(${ANSI})`))) {
    if (part.startsWith("\u001b[")) out += part;
    else {
      const take = [...part].slice(0, Math.max(0, w - 1 - n)).join("");
      out += take;
      n += [...take].length;
    }
  }
  return `${out}…${ESC}0m`;
}
const pad = (s: string, w: number) => s + " ".repeat(Math.max(0, w - visible(s)));
const padL = (s: string, w: number) => " ".repeat(Math.max(0, w - visible(s))) + s;
const num = (n: number) => Math.round(n).toLocaleString("en-US");

export function fmtAge(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min ${Math.floor((ms % 60_000) / 1000)} s`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

export function fmtBytes(b: number): string {
  if (b < 1024) return `${b} B`;
  if (b < 1024 ** 2) return `${(b / 1024).toFixed(1)} KiB`;
  return `${(b / 1024 ** 2).toFixed(1)} MiB`;
}

export function sparkline(values: readonly number[], width: number): string {
  if (width <= 0) return "";
  const v = values.slice(-width);
  if (v.length === 0) return "";
  const lo = Math.min(...v);
  const hi = Math.max(...v);
  const span = Math.max(hi - lo, 0.5);
  return v.map((x) => SPARK[Math.min(7, Math.floor(((x - lo) / span) * 8))]).join("");
}

function tempColour(t: number): string {
  return t < 17 ? "36" : t < 19 ? "34" : t < 23 ? "32" : t < 26 ? "33" : "31";
}

function simClock(ms: number): string {
  const d = new Date(ms);
  const day = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"][d.getUTCDay()];
  return `${day} ${d.toISOString().slice(11, 16)} UTC`;
}

export function renderDashboard(s: Snapshot, opts: { color: boolean; width: number }): string {
  const p = painter(opts.color);
  // One column spare: writing the last column of a line makes some terminals wrap twice.
  const W = Math.max(78, Math.min(opts.width - 1, 110)) - 2;
  const line = (content: string) => `${p("2", "│")} ${pad(clip(content, W - 2), W - 2)} ${p("2", "│")}`;
  const rule = (l: string, r: string, title = "") => {
    const head = title ? `─ ${title} ` : "";
    return `${p("2", l)}${title ? `${p("2", "─ ")}${title} ` : ""}${p("2", `${"─".repeat(W - visible(head))}${r}`)}`;
  };
  const label = (t: string) => p("2", pad(t, 18));
  const rejectTotal = s.rejects.reduce((a, [, n]) => a + n, 0);
  const rejectDetail = s.rejects
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([r, n]) => `${r} ${num(n)}`)
    .join(", ");
  const out: string[] = [];
  out.push(rule("┌", "┐", p("1;36", "edgespool · live demo")));
  out.push(
    line(
      `${label("agent")}${p("1", s.agentId)}   broker ${p("36", s.brokerUrl)}   up ${fmtAge(s.uptimeS * 1000)}`,
    ),
  );
  if (s.note) out.push(line(`${label("")}${p("33", s.note)}`));
  out.push(
    line(
      `${label("simulated house")}${s.rooms.length} rooms · every ${s.intervalMs / 1000} s · ×${s.speed}   ${p("1", simClock(s.simTime))}   outside ${s.outsideC.toFixed(1)} °C`,
    ),
  );
  out.push(rule("├", "┤"));
  out.push(
    line(
      `${label("readings in")}${p("1;32", padL(s.inPerS.toFixed(1), 7))} /s   ${p("2", "total")} ${num(s.inTotal)}   ${p("2", "duplicates dropped")} ${num(s.duplicates)}`,
    ),
  );
  out.push(
    line(
      `${label("rejects")}${p(rejectTotal > 0 ? "1;33" : "1", padL(num(rejectTotal), 7))}      ${p("2", rejectDetail || "none")}`,
    ),
  );
  out.push(
    line(
      `${label("spool")}${p("1", padL(num(s.spoolRecords), 7))} records   ${fmtBytes(s.spoolBytes)}   ${p("2", s.dataDir)}`,
    ),
  );
  for (const k of s.sinks) {
    const age = k.oldestAgeMs > 10_000 ? p("1;31", fmtAge(k.oldestAgeMs)) : fmtAge(k.oldestAgeMs);
    out.push(
      line(
        `${label(`shipped → ${k.id}`)}${p("1;32", padL(num(k.shipped), 7))}   ${p("2", `${k.perS.toFixed(1)}/s  depth`)} ${num(k.depth)}   ${p("2", "oldest unshipped")} ${age}`,
      ),
    );
  }
  out.push(rule("├", "┤", p("1", "rooms")));
  const sparkW = Math.max(10, W - 68);
  out.push(
    line(
      p(
        "2",
        `${pad("room", 11)}${padL("°C", 8)}  ${pad("RH", 5)} ${pad("setpoint", 9)}${pad("heater", 8)}${pad("window", 8)}${pad("people", 7)} ${pad("recent", sparkW)}`,
      ),
    ),
  );
  for (const r of s.rooms) {
    const t =
      r.temperature === undefined
        ? p("2", padL("—", 8))
        : p(`1;${tempColour(r.temperature)}`, padL(r.temperature.toFixed(2), 8));
    const rh = r.humidity === undefined ? "" : `${r.humidity.toFixed(0)}%`;
    const heater = r.heaterOn ? p("1;31", "■ on") : p("2", "· off");
    const win = r.windowOpen ? p("1;36", "▯ open") : p("2", "·");
    const ppl = r.occupants > 0 ? "●".repeat(Math.min(4, r.occupants)) : p("2", "·");
    const faultText = r.fault ? `! ${r.fault}`.slice(0, sparkW - 1) : "";
    const fault = faultText ? ` ${p("1;35", faultText)}` : "";
    out.push(
      line(
        `${pad(r.name, 11)}${t}  ${pad(rh, 5)} ${pad(Number.isFinite(r.setpoint) ? r.setpoint.toFixed(1) : "—", 9)}${pad(heater, 8)}${pad(win, 8)}${pad(ppl, 7)} ${p("36", sparkline(r.history, sparkW - visible(fault)))}${fault}`,
      ),
    );
  }
  out.push(rule("└", "┘"));
  const page = s.pageUrl ? ` · status page ${s.pageUrl}` : "";
  const footer = ` Ctrl-C stops everything${page} · output ${s.dataDir}/out/*.ndjson · agent log ${s.dataDir}/demo.log`;
  out.push(p("2", footer.slice(0, W + 2)));
  return out.join("\n");
}

/** One line per second for pipes and logs. */
export function renderLine(s: Snapshot): string {
  const rejects = s.rejects.reduce((a, [, n]) => a + n, 0);
  const sinks = s.sinks
    .map((k) => `${k.id}=${k.shipped} depth=${k.depth} oldest=${fmtAge(k.oldestAgeMs)}`)
    .join(" ");
  const rooms = s.rooms
    .map((r) => `${r.name}=${r.temperature === undefined ? "-" : r.temperature.toFixed(2)}`)
    .join(" ");
  return `${new Date().toISOString()} sim=${new Date(s.simTime).toISOString().slice(0, 16)} in=${s.inPerS.toFixed(1)}/s total=${s.inTotal} rejects=${rejects} spool=${s.spoolRecords} ${sinks} | ${rooms}`;
}
