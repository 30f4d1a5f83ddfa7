import { z } from "zod";
import { duration, id } from "../../config/common.js";

export const hostSourceSchema = z.strictObject({
  type: z.literal("host"),
  id: id(),
  intervalMs: duration().default(30_000),
  /** Sensor ids are <prefix>/cpu, <prefix>/core<N>, <prefix>/chipset; default: the agentId. */
  sensorPrefix: z.string().min(1).optional(),
  /** Which temperatures to read. */
  include: z
    .array(z.enum(["main", "cores", "chipset"]))
    .min(1)
    .default(["main", "cores", "chipset"]),
  /** Plausible range in °C; anything outside (a driver's placeholder value) is rejected as out-of-range. */
  range: z.strictObject({ min: z.number().default(-40), max: z.number().default(150) }).prefault({}),
});
export type HostSourceConfig = z.infer<typeof hostSourceSchema>;
