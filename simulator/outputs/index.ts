import type { Device } from "../layout.js";
import { createLinesOutput } from "./lines.js";
import { createMqttOutput } from "./mqtt.js";
import type { Output } from "./output.js";
import { createSerialOutput } from "./serial.js";

export type { MessageEvent, Output } from "./output.js";
export { createLinesOutput, createMqttOutput, createSerialOutput };

export type OutputSpec =
  | {
      kind: "mqtt";
      url: string;
      topic: string;
      qos: 0 | 1 | 2;
      clients: number | "device";
      username?: string;
      password?: string;
    }
  | { kind: "serial"; path: string; baudRate: number }
  | { kind: "stdout" }
  | { kind: "file"; path: string };

export function createOutput(spec: OutputSpec, devices: readonly Device[]): Output {
  switch (spec.kind) {
    case "mqtt":
      return createMqttOutput({ ...spec, devices });
    case "serial":
      return createSerialOutput({ path: spec.path, baudRate: spec.baudRate, reopenMs: 500 });
    case "stdout":
    case "file":
      return createLinesOutput(spec);
  }
}
