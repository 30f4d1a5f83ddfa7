import { contentId } from "../../agent/record/ids.js";
import type { TruthReading } from "../../simulator/fleet.js";

/** The id the agent derives for a simulated device message (the simulator sends ts and seq). */
export function truthId(t: TruthReading): string {
  return (
    contentId({
      sensor: t.sensor,
      temperature: t.temperature,
      humidity: t.humidity,
      deviceTs: t.ts,
      deviceSeq: t.seq,
    }) ?? ""
  );
}
