import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The demo runs the agent on config/default.json; when its ports are taken (a mosquitto on 1883,
 * a second demo) it takes free ones instead and says so, rather than failing.
 */

const here = dirname(fileURLToPath(import.meta.url));

export function defaultConfigPath(): string | undefined {
  // dist/scripts/demo → repository root; also works from the working directory.
  const candidates = [resolve(here, "../../../config/default.json"), resolve("config/default.json")];
  return candidates.find((p) => existsSync(p));
}

export function portFree(port: number, host: string): Promise<boolean> {
  return new Promise((done) => {
    const s = createServer();
    s.once("error", () => done(false));
    s.listen(port, host, () => s.close(() => done(true)));
  });
}

interface RawSource {
  type: string;
  host?: string;
  port?: number;
  topicTemplate?: string;
  [k: string]: unknown;
}

export interface DemoConfig {
  raw: Record<string, unknown> & { sources: RawSource[]; http?: { host?: string; port?: number } };
  notes: string[];
}

export async function demoConfig(): Promise<DemoConfig> {
  const path = defaultConfigPath();
  if (!path) throw new Error("config/default.json not found: run npm start from the repository");
  const raw = JSON.parse(readFileSync(path, "utf8")) as DemoConfig["raw"];
  const notes: string[] = [];
  const broker = raw.sources.find((s) => s.type === "mqtt-broker");
  if (!broker) throw new Error(`${path}: the demo needs an mqtt-broker source`);
  const host = broker.host ?? "127.0.0.1";
  const port = broker.port ?? 1883;
  if (!(await portFree(port, host))) {
    broker.port = 0;
    notes.push(`port ${port} is busy, so the broker took a free port`);
  }
  const http = { host: "127.0.0.1", port: 9464, ...raw.http };
  if (!(await portFree(http.port, http.host))) {
    raw.http = { ...http, port: 0 };
    notes.push(`metrics port ${http.port} is busy, so /metrics took a free port`);
  }
  return { raw, notes };
}
