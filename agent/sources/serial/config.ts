import { z } from "zod";
import { bytes, id, posInt } from "../../config/common.js";
import { parserSchema } from "../../parse/types.js";

export const serialSourceSchema = z.strictObject({
  type: z.literal("serial"),
  id: id(),
  /** Device path, e.g. /dev/ttyUSB0 or /dev/serial/by-id/… (stable across replugs). */
  path: z.string().min(1, "expected a device path such as /dev/ttyUSB0"),
  baudRate: posInt().default(9600),
  /** Longest line accepted; longer lines are rejected as too-large and skipped up to the next newline. */
  maxLineBytes: bytes().default(4096),
  /** Skip the first line after each open: it may be the tail of a line the device sent before. */
  dropFirstLine: z.boolean().default(false),
  /** Reopen delays after an unplug or a failed open: capped exponential backoff with jitter. */
  reconnect: z
    .strictObject({ initialMs: posInt().default(500), maxMs: posInt().default(30_000) })
    .prefault({}),
  ...parserSchema,
});
export type SerialSourceConfig = z.infer<typeof serialSourceSchema>;
