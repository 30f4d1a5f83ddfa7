import { z } from "zod";
import { duration, id } from "../../config/common.js";

export const onewireSourceSchema = z.strictObject({
  type: z.literal("onewire"),
  id: id(),
  /** The Linux 1-Wire sysfs folder; point it elsewhere to read fixtures. */
  folder: z.string().min(1).default("/sys/bus/w1/devices"),
  intervalMs: duration().default(10_000),
  /** Sensor ids by device folder, e.g. {"28-0316a2795cff": "kitchen/t1"}; default: the folder name. */
  names: z.record(z.string(), z.string().min(1)).default({}),
});
export type OnewireSourceConfig = z.infer<typeof onewireSourceSchema>;
