import type { TransformConfig } from "../../config/common.js";
import type { Transform } from "../transform.js";
import { AggregateTransform } from "./aggregate.js";
import { FilterTransform } from "./filter.js";

export { AggregateTransform } from "./aggregate.js";
export { compileFilter, FilterTransform, validateFilter } from "./filter.js";

/** Builds a sink's transform chain in config order; throws on a bad filter expression. */
export function createTransforms(cfgs: readonly TransformConfig[], ctx: { agentId: string }): Transform[] {
  return cfgs.map((c) =>
    c.type === "filter"
      ? new FilterTransform(c.expression)
      : new AggregateTransform(ctx.agentId, {
          windowMs: c.windowMs,
          allowedLatenessMs: c.allowedLatenessMs,
          stats: c.stats,
        }),
  );
}
