import { z } from "zod";
import { sinkCommon } from "../../config/common.js";

export const stdoutSinkSchema = z.strictObject({
  type: z.literal("stdout"),
  ...sinkCommon,
});
export type StdoutSinkConfig = z.infer<typeof stdoutSinkSchema>;
