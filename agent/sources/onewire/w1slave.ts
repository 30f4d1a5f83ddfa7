import type { RejectReason } from "../../parse/types.js";

/** Family codes of the 1-Wire thermometers that share the DS18B20's w1_slave format. */
export const THERMOMETER_FOLDER = /^(10|22|28|3b|42)-[0-9a-f]{12}$/i;

/** The DS18B20's power-on reset value: a read before the first conversion finished. */
const POWER_ON_MC = 85_000;
/** What the kernel driver reports for a probe that stopped answering. */
const DISCONNECTED_MC = -127_000;

export type W1Result = { ok: true; celsius: number } | { ok: false; reason: RejectReason; detail: string };

/**
 * Parses the kernel's w1_slave text:
 *   72 01 4b 46 7f ff 0e 10 57 : crc=57 YES
 *   72 01 4b 46 7f ff 0e 10 57 t=23125
 */
export function parseW1Slave(text: string): W1Result {
  const lines = text.split("\n");
  const crcLine = lines[0]?.trim() ?? "";
  const crc = /crc=[0-9a-f]{2}\s+(YES|NO)$/i.exec(crcLine);
  if (!crc)
    return { ok: false, reason: "bad-format", detail: `unexpected first line "${crcLine.slice(0, 60)}"` };
  if (crc[1]!.toUpperCase() !== "YES") return { ok: false, reason: "crc", detail: "CRC check failed (NO)" };
  const t = /t=(-?\d+)\s*$/.exec(lines[1]?.trim() ?? "");
  if (!t) return { ok: false, reason: "bad-format", detail: "no t= value on the second line" };
  const mc = Number(t[1]);
  if (mc === POWER_ON_MC) return { ok: false, reason: "sensor-fault", detail: "85 °C power-on value" };
  if (mc === DISCONNECTED_MC)
    return { ok: false, reason: "sensor-fault", detail: "-127 °C: probe disconnected" };
  const celsius = mc / 1000;
  // The DS18B20's measuring range; anything outside is a bus error, not a temperature.
  if (celsius < -55 || celsius > 125)
    return { ok: false, reason: "out-of-range", detail: `${celsius} °C outside -55..125` };
  return { ok: true, celsius };
}
