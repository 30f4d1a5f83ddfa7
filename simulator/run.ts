import { setImmediate as yieldToLoop } from "node:timers/promises";
import type { Fleet, FleetEvent } from "./fleet.js";
import type { Output } from "./outputs/output.js";
import type { TruthWriter } from "./truth.js";

export interface RunOptions {
  /** Simulated seconds per wall-clock second; Infinity = as fast as the output takes them. */
  speed: number;
  /** Stop after this many readings (dropouts included). */
  count?: number;
  /** Stop after this much simulated time. */
  durationMs?: number;
  signal?: AbortSignal;
  truth?: TruthWriter;
  /** Sees every event after it was handed to the output (the demo's live view taps in here). */
  onEvent?: (e: FleetEvent) => void;
  /** How often a paced run wakes up, wall ms. */
  tickMs?: number;
}

export interface RunResult {
  readings: number;
  messages: number;
  storms: number;
  wallMs: number;
  simMs: number;
}

const BATCH = 2000;

/**
 * Drives a fleet's simulated clock against the wall clock and hands its events to an output,
 * waiting whenever the output or the truth log pushes back.
 */
export async function runFleet(fleet: Fleet, output: Output, opts: RunOptions): Promise<RunResult> {
  const wall0 = performance.now();
  const sim0 = fleet.now;
  const end = opts.durationMs === undefined ? Number.POSITIVE_INFINITY : sim0 + opts.durationMs;
  const gen0 = fleet.generated;
  const res: RunResult = { readings: 0, messages: 0, storms: 0, wallMs: 0, simMs: 0 };

  const deliver = async (events: readonly FleetEvent[]) => {
    for (const e of events) {
      if (e.kind === "message") {
        res.messages++;
        if (!output.send(e)) await output.drain();
        if (e.copy === 0) opts.truth?.write(e.truth);
      } else {
        if (e.kind === "storm") {
          res.storms++;
          output.storm();
        }
        opts.truth?.write(e.truth);
      }
      opts.onEvent?.(e);
    }
    await opts.truth?.drain();
  };

  while (!opts.signal?.aborted) {
    const left = opts.count === undefined ? BATCH : Math.min(BATCH, opts.count - (fleet.generated - gen0));
    if (left <= 0) break;
    const paced = Number.isFinite(opts.speed)
      ? sim0 + (performance.now() - wall0) * opts.speed
      : Number.POSITIVE_INFINITY;
    const target = Math.min(end, paced);
    const before = fleet.generated;
    await deliver(fleet.advance(target, left));
    if (fleet.now >= end) break;
    if (fleet.generated - before < left && Number.isFinite(target)) {
      await new Promise((r) => setTimeout(r, opts.tickMs ?? 50));
    } else await yieldToLoop();
  }
  await deliver(fleet.flush());
  res.readings = fleet.generated - gen0;
  res.wallMs = performance.now() - wall0;
  res.simMs = fleet.now - sim0;
  return res;
}
