import { PassThrough } from "node:stream";
import type { OutRecord } from "../../agent/record/record.js";
import type { Sink, WriteResult } from "../../agent/sinks/sink.js";
import { SinkError } from "../../agent/sinks/sink.js";
import { createStdoutSink } from "../../agent/sinks/stdout/index.js";
import { Telemetry } from "../../agent/telemetry/telemetry.js";

/** What a held write answers when the test releases it. */
export type Fault =
  | { kind: "ok" }
  | { kind: "down" }
  | { kind: "refuse-all" }
  | { kind: "partial"; reject: number[]; retry: number[] };

/**
 * The real stdout sink (writing into a stream the test reads) behind a gate: each write waits
 * until the test releases it with a fault, so a test can run retention or a restart while a
 * batch is in flight, at a point it chooses. `open()` lets every write through as `ok`.
 */
export class GatedSink {
  readonly lines: string[] = [];
  readonly sink: Sink;
  private waiting: { batch: readonly OutRecord[]; answer: (f: Fault) => void } | undefined;
  private arrived: (() => void) | undefined;
  private opened = false;

  constructor(id: string) {
    const out = new PassThrough();
    let buf = "";
    out.on("data", (d: Buffer) => {
      buf += d.toString();
      const parts = buf.split("\n");
      buf = parts.pop()!;
      this.lines.push(...parts);
    });
    const t = new Telemetry();
    const real = createStdoutSink(
      { id } as never,
      { agentId: "t", dataDir: "/tmp", log: t.log, telemetry: t },
      out,
    );
    this.sink = {
      id,
      type: "gated",
      start: () => real.start(),
      close: () => real.close(),
      write: async (batch, signal) => {
        const fault = this.opened ? { kind: "ok" as const } : await this.hold(batch, signal);
        return apply(fault, batch, (b) => real.write(b, signal));
      },
    };
  }

  /** Waits up to `ms` for a write to be held; true when one is. */
  async pending(ms: number): Promise<boolean> {
    if (this.waiting) return true;
    await new Promise<void>((r) => {
      const t = setTimeout(r, ms);
      this.arrived = () => {
        clearTimeout(t);
        r();
      };
    });
    this.arrived = undefined;
    return this.waiting !== undefined;
  }

  get heldBatch(): readonly OutRecord[] | undefined {
    return this.waiting?.batch;
  }

  release(f: Fault): void {
    const w = this.waiting;
    this.waiting = undefined;
    w?.answer(f);
  }

  open(): void {
    this.opened = true;
    this.release({ kind: "ok" });
  }

  private hold(batch: readonly OutRecord[], signal: AbortSignal): Promise<Fault> {
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.waiting = undefined;
        reject(new SinkError("aborted", "ABORT", true));
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener("abort", onAbort, { once: true });
      this.waiting = {
        batch,
        answer: (f) => {
          signal.removeEventListener("abort", onAbort);
          resolve(f);
        },
      };
      this.arrived?.();
    });
  }
}

async function apply(
  f: Fault,
  batch: readonly OutRecord[],
  write: (b: readonly OutRecord[]) => Promise<WriteResult>,
): Promise<WriteResult> {
  if (f.kind === "down") throw new SinkError("upstream down", "HTTP_503", true);
  if (f.kind === "refuse-all") throw new SinkError("bad request", "HTTP_400", false);
  if (f.kind === "ok") return write(batch);
  const rejected = [...new Set(f.reject.filter((i) => i < batch.length))];
  const retry = [...new Set(f.retry.filter((i) => i < batch.length && !rejected.includes(i)))];
  const skip = new Set([...rejected, ...retry]);
  await write(batch.filter((_, i) => !skip.has(i)));
  return { rejected: rejected.map((index) => ({ index, reason: "refused" })), retry };
}
