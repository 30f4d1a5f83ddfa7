import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { promisify } from "node:util";
import { CLI } from "./agent-process.js";

const run = promisify(execFile);

/** Resident set size of a process in MiB, from /proc (undefined once it is gone). */
export function rssMiB(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Samples a process's RSS every `everyMs`; `samples` keeps them all for the flatness check. */
export class RssSampler {
  readonly samples: number[] = [];
  private timer: NodeJS.Timeout;

  constructor(pid: number, everyMs = 250) {
    this.timer = setInterval(() => {
      const v = rssMiB(pid);
      if (v !== undefined) this.samples.push(v);
    }, everyMs);
  }

  stop(): number[] {
    clearInterval(this.timer);
    return this.samples;
  }

  get peak(): number {
    return Math.max(0, ...this.samples);
  }

  /** Median of the samples in [from, to) as fractions of the run, robust to GC spikes. */
  median(from: number, to: number): number {
    const s = this.samples.slice(Math.floor(this.samples.length * from), Math.ceil(this.samples.length * to));
    const sorted = [...s].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)] ?? 0;
  }
}

/** Prometheus text exposition → value by `name{labels}` (labels as printed). */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const sp = line.lastIndexOf(" ");
    out.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return out;
}

/** Sum of every series of a metric whose labels contain all of `match` (e.g. `sink="out"`). */
export function metricSum(m: Map<string, number>, name: string, ...match: string[]): number {
  let sum = 0;
  for (const [k, v] of m) {
    const base = k.includes("{") ? k.slice(0, k.indexOf("{")) : k;
    if (base === name && match.every((s) => k.includes(s))) sum += v;
  }
  return sum;
}

export async function scrape(port: number): Promise<Map<string, number>> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  return parseMetrics(await res.text());
}

export interface StatusJson {
  records: number;
  bytes: number;
  lastSeq: number;
  sinks: {
    sink: string;
    depth: number;
    shipped: number;
    dropped: Record<string, number>;
    oldestAgeMs: number;
  }[];
}

/** `edgespool status --json --config FILE`, as an operator would run it beside the daemon. */
export async function statusJson(configFile: string): Promise<StatusJson> {
  const { stdout } = await run(process.execPath, [CLI, "status", "--json", "--config", configFile], {
    timeout: 15_000,
  });
  return JSON.parse(stdout) as StatusJson;
}
