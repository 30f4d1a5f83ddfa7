import { Writable } from "node:stream";
import pino from "pino";
import type { Logger } from "../../agent/telemetry/logger.js";

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** A real pino logger whose JSON lines are kept in memory, so tests can count what was logged. */
export function captureLog(level = "debug"): {
  log: Logger;
  lines: LogLine[];
  count(msg: string | RegExp): number;
} {
  const lines: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split("\n")) if (l.trim()) lines.push(JSON.parse(l) as LogLine);
      done();
    },
  });
  const log = pino({ level }, sink);
  const count = (msg: string | RegExp) =>
    lines.filter((l) => (typeof msg === "string" ? l.msg === msg : msg.test(l.msg))).length;
  return { log, lines, count };
}
