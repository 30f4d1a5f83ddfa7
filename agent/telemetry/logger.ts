import pino, { type Logger } from "pino";
import { REDACT_PATHS, scrub } from "./redact.js";

export type { Logger };

export interface LoggerOptions {
  level?: string;
  /** Pretty output; defaults to whether stderr is a terminal. */
  pretty?: boolean;
  /** Where JSON lines go (default: stderr, so stdout stays free for the stdout sink). */
  destination?: NodeJS.WritableStream | number;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? process.env.EDGESPOOL_LOG_LEVEL ?? "info";
  const pretty = opts.pretty ?? (process.stderr.isTTY === true && opts.destination === undefined);
  // Redaction masks known credential fields; the hook catches a secret anywhere else in the line
  // (an error message, a URL) by value — see redact.ts.
  const base = {
    level,
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
    hooks: { streamWrite: scrub },
  };
  if (pretty) {
    return pino({
      ...base,
      transport: { target: "pino-pretty", options: { destination: 2, translateTime: "SYS:HH:MM:ss.l" } },
    });
  }
  const dest = opts.destination ?? 2;
  return pino(base, typeof dest === "number" ? pino.destination({ dest, sync: true }) : dest);
}

/** A logger that drops everything, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
