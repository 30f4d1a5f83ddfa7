import { createRequire } from "node:module";
import { decodeRecord, type OutRecord } from "../../record/record.js";
import type { Transform } from "../transform.js";

/**
 * Safe filter expressions (filtrex: parsed and compiled, never eval'd), e.g. `temperature >= 35`,
 * `sensor == "kitchen/t1" and humidity > 60`, `attrs.battery < 10`. Fields are the canonical
 * record's (id, sensor, ts, temperature, humidity, source, agent, seq, rx, attrs.*); a missing
 * field is undefined and any comparison on it is false, so a record without `humidity` never
 * passes `humidity > 60` instead of crashing the pipeline.
 */

export type FilterFn = (record: Record<string, unknown>) => boolean;

type Filtrex = typeof import("filtrex");
let filtrex: Filtrex | undefined;
/** filtrex (~2 MiB resident) loads with the first filter a config has, not with every agent. */
function compileExpression(...args: Parameters<Filtrex["compileExpression"]>) {
  filtrex ??= createRequire(import.meta.url)("filtrex") as Filtrex;
  return filtrex.compileExpression(...args);
}

const FUNCTIONS = new Set([
  "abs",
  "ceil",
  "floor",
  "log",
  "log2",
  "log10",
  "max",
  "min",
  "round",
  "sqrt",
  "exists",
  "empty",
]);
const KEYWORDS = new Set(["if", "then", "else", "and", "or", "not", "in", "of", "mod"]);

/**
 * Dotted names walk own properties only: the stock `useDotAccessOperator` helpers read inherited
 * ones too (`constructor` yields a Function), which a user expression must never reach.
 */
function ownPath(name: string, _get: (n: string) => unknown, obj: unknown, type: string): unknown {
  const parts = type === "single-quoted" ? [name] : name.split(".");
  let cur: unknown = obj;
  for (const p of parts) {
    if (cur === null || typeof cur !== "object" || !Object.hasOwn(cur, p)) return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur;
}

/** filtrex reports an unknown function only when the call runs; find it before that, at config time. */
function unknownFunction(expression: string): string | undefined {
  const bare = expression.replace(/"(?:[^"\\]|\\.)*"/g, '""').replace(/'(?:[^'\\]|\\.)*'/g, "x");
  for (const m of bare.matchAll(/([A-Za-z_$][A-Za-z0-9_$.]*)\s*\(/g)) {
    const name = m[1]!;
    if (!FUNCTIONS.has(name) && !KEYWORDS.has(name)) return name;
  }
  return undefined;
}

/** Compiles an expression; throws an Error saying what is wrong (config time, `edgespool check`). */
export function compileFilter(expression: string): FilterFn {
  const fn = unknownFunction(expression);
  if (fn !== undefined) {
    throw new Error(
      `unknown function ${fn}() in filter "${expression}"; known: ${[...FUNCTIONS].join(", ")}`,
    );
  }
  let compiled: (obj: unknown) => unknown;
  try {
    compiled = compileExpression(expression, { customProp: ownPath });
  } catch (err) {
    const detail = err instanceof Error ? err.message.split("\n").join(" ") : String(err);
    throw new Error(`invalid filter "${expression}": ${detail}`);
  }
  return (record) => {
    const r = compiled(record);
    // filtrex returns (never throws) type errors at run time, and an Error object is truthy.
    return !(r instanceof Error) && Boolean(r);
  };
}

/** The error message for a bad expression, or undefined when it compiles. */
export function validateFilter(expression: string): string | undefined {
  try {
    compileFilter(expression);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/** The `filter` transform: keeps records whose decoded body matches; counts the rest. */
export class FilterTransform implements Transform {
  readonly name = "filter";
  dropped = 0;
  droppedSeqs: number[] = [];
  private readonly match: FilterFn;

  constructor(expression: string) {
    this.match = compileFilter(expression);
  }

  process(batch: readonly OutRecord[], _nowMs = 0): OutRecord[] {
    const out: OutRecord[] = [];
    this.droppedSeqs = [];
    for (const r of batch) {
      let keep = false;
      try {
        keep = this.match(decodeRecord(r.body) as unknown as Record<string, unknown>);
      } catch {
        // A body that is not JSON cannot match; it is dropped and counted like any other.
      }
      if (keep) out.push(r);
      else this.droppedSeqs.push(r.seq);
    }
    this.dropped = batch.length - out.length;
    return out;
  }

  flush(): OutRecord[] {
    this.dropped = 0;
    this.droppedSeqs = [];
    return [];
  }

  heldSeq(): number | undefined {
    return undefined;
  }
}
