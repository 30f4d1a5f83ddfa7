import type { IPublishPacket, MqttClient } from "mqtt";

/**
 * PUBACK after commit without one commit per message. mqtt.js sends a QoS1 PUBACK when its
 * `handleMessage` callback runs and reads no further packet until then (both for `handleMessage`
 * and for MQTT 5's `customHandleAcks`), so waiting there for the commit serialises the stream:
 * one SQLite transaction per message. Instead the callback gets an error, which tells mqtt.js to
 * skip its PUBACK and read on; the PUBACK is written here once the commit resolved, in arrival
 * order (MQTT 3.1.1 §4.6.0-2), so messages arriving together share a group commit. The broker's
 * in-flight window (Mosquitto's max_inflight_messages, MQTT 5 Receive Maximum) bounds how many
 * wait. This uses mqtt.js' internal `_sendPacket`, the same call its own publish handler makes;
 * where it is missing the source falls back to the serial path.
 */
export const ACK_LATER = new Error("edgespool: PUBACK deferred until commit");

type SendPacket = (
  packet: { cmd: "puback"; messageId: number; reasonCode?: number },
  cb?: () => void,
) => void;

export function deferredAcker(client: MqttClient): ((packet: IPublishPacket) => void) | undefined {
  const send = (client as unknown as { _sendPacket?: SendPacket })._sendPacket;
  if (typeof send !== "function") return undefined;
  return (packet) => {
    if (packet.messageId === undefined) return;
    send.call(client, { cmd: "puback", messageId: packet.messageId, reasonCode: 0 });
  };
}
