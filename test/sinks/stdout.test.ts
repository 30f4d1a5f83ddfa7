import { PassThrough } from "node:stream";
import { stdoutSinkSchema } from "../../agent/sinks/stdout/config.js";
import { createStdoutSink } from "../../agent/sinks/stdout/index.js";
import { sinkConformance, testContext } from "./conformance.js";

sinkConformance("stdout", async () => {
  const out = new PassThrough();
  let text = "";
  out.on("data", (c: Buffer) => {
    text += c.toString("utf8");
  });
  return {
    make: () => createStdoutSink(stdoutSinkSchema.parse({ type: "stdout", id: "out" }), testContext(), out),
    received: () => text.split("\n").slice(0, -1),
    teardown: async () => {
      out.destroy();
    },
  };
});
