import { once } from "node:events";
import { type AddressInfo, createServer } from "node:net";
import { Aedes, type AedesOptions } from "aedes";
import mqtt, { type MqttClient } from "mqtt";
import { waitFor as waitForCond } from "../helpers/basics.js";

/** A real aedes broker on a loopback port, for the simulator's MQTT tests. */
export async function startAedes(
  opts?: AedesOptions,
): Promise<{ url: string; broker: Aedes; close: () => Promise<void> }> {
  const broker = await Aedes.createBroker(opts);
  const server = createServer(broker.handle);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    url: `mqtt://127.0.0.1:${port}`,
    broker,
    close: async () => {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** An mqtt.js subscriber collecting every payload it gets, by topic. */
export async function subscribe(
  url: string,
  filter: string,
): Promise<{ client: MqttClient; got: { topic: string; payload: Buffer }[] }> {
  const client = await mqtt.connectAsync(url, { clientId: `sub-${process.pid}`, reconnectPeriod: 0 });
  const got: { topic: string; payload: Buffer }[] = [];
  client.on("message", (topic, payload) => got.push({ topic, payload }));
  await client.subscribeAsync(filter, { qos: 1 });
  return { client, got };
}

/** `waitFor` from test/helpers that throws on timeout, for steps that must happen before the next. */
export async function waitFor(cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  if (!(await waitForCond(cond, timeoutMs))) throw new Error("timed out waiting");
}
