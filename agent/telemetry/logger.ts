import pino, { type Logger } from "pino";

export type { Logger };

export interface LoggerOptions {
  level?: string;
  /** Pretty output; defaults to whether stderr is a terminal. */
  pretty?: boolean;
  /** Where JSON lines go (default: stderr, so stdout stays free for the stdout sink). */
  destination?: NodeJS.WritableStream | number;
}

const REDACT = [
  "password",
  "*.password",
  "*.*.password",
  "secretAccessKey",
  "*.secretAccessKey",
  "*.*.secretAccessKey",
  "key",
  "*.key",
  "*.*.key",
  "token",
  "*.token",
  "*.*.token",
  "headers.authorization",
  "*.headers.authorization",
];

export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? process.env.EDGESPOOL_LOG_LEVEL ?? "info";
  const pretty = opts.pretty ?? (process.stderr.isTTY === true && opts.destination === undefined);
  const base = { level, redact: { paths: REDACT, censor: "[redacted]" } };
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
