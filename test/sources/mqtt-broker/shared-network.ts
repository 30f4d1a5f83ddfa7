import type { IClientOptions, MqttClient } from "mqtt";
import { afterEach } from "vitest";
import type { MqttBrokerSource } from "../../../agent/sources/mqtt-broker/index.js";
import { silentLogger } from "../../../agent/telemetry/logger.js";
import { Telemetry } from "../../../agent/telemetry/telemetry.js";
import { RecordingIngest } from "../../helpers/recording-ingest.js";
import { connect, context, GatedIngest, startBroker } from "./helpers.js";

/**
 * What the shared-network test files (security, security-tls-limits) have in common: a broker per
 * test with its own telemetry and recording, and clients that are all closed after each test.
 * Call once at the top of a test file: it registers the afterEach that stops everything.
 */
export function sharedNetwork() {
  const open: { stop(): Promise<void> }[] = [];
  const clients: MqttClient[] = [];
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
    await Promise.all(open.splice(0).map((s) => s.stop()));
  });

  async function setup(overrides: Record<string, unknown>) {
    const telemetry = new Telemetry(silentLogger());
    const recording = new RecordingIngest();
    const src = await startBroker(context(new GatedIngest(recording, telemetry), telemetry), overrides);
    open.push(src);
    return { telemetry, recording, src };
  }

  async function client(src: MqttBrokerSource, opts: IClientOptions = {}): Promise<MqttClient> {
    const c = await connect(src.port, opts);
    clients.push(c);
    return c;
  }

  /** Closes `c` after the test, for clients made without `client` (e.g. over TLS). */
  const track = (c: MqttClient): MqttClient => (clients.push(c), c);

  return { setup, client, track };
}

export const reading = (sensor: string, extra = "") => `{"sensor":"${sensor}","temperature":21.5${extra}}`;
export const sensors = (r: RecordingIngest) => r.readings.map((x) => x.reading.sensor);
