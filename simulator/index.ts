/** The room-thermometer fleet simulator as a library: build a fleet, pick an output, run it. */
export {
  FAULT_KINDS,
  type FaultKind,
  type FaultRates,
  NO_FAULTS,
  parseFaultSpec,
  type SpikeKind,
} from "./faults.js";
export {
  createFleet,
  DEFAULT_FLEET,
  type Fleet,
  type FleetEvent,
  type FleetOptions,
  quantise,
  type TruthEntry,
  type TruthReading,
  type TruthStorm,
} from "./fleet.js";
export {
  CSV_COLUMNS,
  encode,
  FORMATS,
  type Format,
  KV_FIELDS,
  MALFORMED_KINDS,
  type MalformedKind,
} from "./formats.js";
export type { Device } from "./layout.js";
export { createOutput, type MessageEvent, type Output, type OutputSpec } from "./outputs/index.js";
export { type RunOptions, type RunResult, runFleet } from "./run.js";
export { collectTruth, createTruthWriter, readTruth, type TruthWriter } from "./truth.js";
