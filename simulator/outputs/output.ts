import type { FleetEvent } from "../fleet.js";

export type MessageEvent = Extract<FleetEvent, { kind: "message" }>;

/**
 * Where the fleet's messages go. `send` never blocks: it returns false when the transport is
 * saturated, and the runner then waits for `drain()` — so a slow broker slows the simulation's
 * wall clock instead of growing memory.
 */
export interface Output {
  readonly kind: string;
  open(): Promise<void>;
  send(msg: MessageEvent): boolean;
  drain(): Promise<void>;
  /** Drops every connection at once and lets them come back, like a fleet after a broker restart. */
  storm(): void;
  /** Flushes what is queued (waits for acknowledgements where the transport has them) and closes. */
  close(): Promise<void>;
  /** Messages handed to the transport, transport errors seen, and publishes sent again after one. */
  stats(): { sent: number; errors: number; retries?: number };
}

export function toBuffer(payload: string | Uint8Array): Buffer {
  if (typeof payload === "string") return Buffer.from(payload);
  return Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.length);
}

/** Expands `{room}`, `{sensor}` and `{device}` (= room/sensor) in a topic or path template. */
export function expandTemplate(
  template: string,
  vars: { room: string; sensor: string; device: string },
): string {
  return template.replace(/\{(room|sensor|device)\}/g, (_, k: "room" | "sensor" | "device") => vars[k]);
}
