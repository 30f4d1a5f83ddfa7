import { once } from "node:events";
import { createReadStream, createWriteStream, type WriteStream } from "node:fs";
import { createInterface } from "node:readline";
import type { TruthEntry, TruthReading } from "./fleet.js";

/**
 * The ground-truth log: one JSON line per reading (in the order the fleet sent them, dropouts
 * included) and per reconnect storm, so a test or benchmark can work out what the agent should
 * have stored.
 */
export interface TruthWriter {
  write(entry: TruthEntry): void;
  /** Resolves when the file can take more without buffering in memory. */
  drain(): Promise<void>;
  close(): Promise<void>;
}

export async function createTruthWriter(path: string): Promise<TruthWriter> {
  const stream: WriteStream = createWriteStream(path, { flags: "w" });
  await once(stream, "open");
  return {
    write(entry) {
      stream.write(`${JSON.stringify(entry)}\n`);
    },
    async drain() {
      if (stream.writableNeedDrain) await once(stream, "drain");
    },
    close: () =>
      new Promise<void>((resolve, reject) =>
        stream.end((err?: Error | null) => (err ? reject(err) : resolve())),
      ),
  };
}

export async function readTruth(path: string): Promise<TruthEntry[]> {
  const out: TruthEntry[] = [];
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of lines) if (line.trim() !== "") out.push(JSON.parse(line) as TruthEntry);
  return out;
}

/** A truth log kept in memory: the readings (no storms) are appended to `into`. */
export function collectTruth(into: TruthReading[]): TruthWriter {
  return {
    write: (e) => void (e.type === "reading" && into.push(e)),
    drain: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
}
