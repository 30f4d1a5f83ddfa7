import type { OutRecord } from "../../record/record.js";
import type { Sink, SinkContext, WriteResult } from "../sink.js";
import type { StdoutSinkConfig } from "./config.js";

/** NDJSON to standard output, for pipes and debugging; waits for the pipe to drain (backpressure). */
export function createStdoutSink(
  cfg: StdoutSinkConfig,
  _ctx: SinkContext,
  out: NodeJS.WritableStream = process.stdout,
): Sink {
  return {
    id: cfg.id,
    type: "stdout",
    async start() {},
    write(batch: readonly OutRecord[]): Promise<WriteResult> {
      let text = "";
      for (const r of batch) text += `${r.body}\n`;
      return new Promise((resolve, reject) => {
        out.write(text, (err) => (err ? reject(err) : resolve({})));
      });
    },
    async close() {},
  };
}
