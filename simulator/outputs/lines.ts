import { once } from "node:events";
import { createWriteStream } from "node:fs";
import type { Writable } from "node:stream";
import { type MessageEvent, type Output, toBuffer } from "./output.js";

const NL = Buffer.from("\n");

/** One payload per line to a stream: stdout, or a file appended to. Storms are a no-op here. */
export function createLinesOutput(target: { kind: "stdout" } | { kind: "file"; path: string }): Output {
  let stream: Writable | undefined;
  let sent = 0;
  let errors = 0;
  return {
    kind: target.kind,
    async open() {
      if (target.kind === "stdout") stream = process.stdout;
      else {
        const s = createWriteStream(target.path, { flags: "a" });
        s.on("error", () => errors++);
        await once(s, "open");
        stream = s;
      }
    },
    send(msg: MessageEvent) {
      if (!stream) throw new Error("output not open");
      sent++;
      const body = msg.payload;
      const ok =
        typeof body === "string"
          ? stream.write(`${body}\n`)
          : stream.write(Buffer.concat([toBuffer(body), NL]));
      return ok;
    },
    async drain() {
      if (stream?.writableNeedDrain) await once(stream, "drain");
    },
    storm() {},
    async close() {
      const s = stream;
      stream = undefined;
      if (!s || s === process.stdout) return;
      await new Promise<void>((resolve) => s.end(resolve));
    },
    stats: () => ({ sent, errors }),
  };
}
