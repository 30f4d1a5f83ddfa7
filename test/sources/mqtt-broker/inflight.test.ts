import type { MqttClient } from "mqtt";
import { afterEach, describe, expect, it } from "vitest";
import { silentLogger } from "../../../agent/telemetry/logger.js";
import { Telemetry } from "../../../agent/telemetry/telemetry.js";
import { RecordingIngest, waitFor } from "../../helpers/recording-ingest.js";
import { connect, context, GatedIngest, sleep, startBroker } from "./helpers.js";

/**
 * In-flight ingest is bounded per connection: aedes reads a client's next chunk only once every
 * message of the previous one has been released, and the broker releases a message only after
 * its commit. So with the spool blocked, each client has at most about one socket read (64 KiB)
 * parsed and waiting, and `limits.maxConnections` bounds the total; the rest stays in the
 * clients and in TCP.
 */

const clients: MqttClient[] = [];
const open: { stop(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
  await Promise.all(open.splice(0).map((s) => s.stop()));
});

describe("mqtt-broker in-flight ingest", () => {
  it("holds at most about one socket read per client while the spool is blocked", async () => {
    const telemetry = new Telemetry(silentLogger());
    const ingest = new GatedIngest(new RecordingIngest(), telemetry);
    ingest.held = true;
    const src = await startBroker(context(ingest, telemetry));
    open.push(src);
    const n = 10;
    const per = 1000;
    const pad = "x".repeat(1000);
    const acks: Promise<unknown>[] = [];
    for (let k = 0; k < n; k++) {
      const c = await connect(src.port, { clientId: `p${k}` });
      clients.push(c);
      for (let i = 0; i < per; i++)
        acks.push(
          c.publishAsync("t", `{"sensor":"s${k}","temperature":20,"pad":"${pad}","seq":${i}}`, { qos: 1 }),
        );
    }
    await sleep(1500);
    const held = ingest.submitted.length;
    // 10 MB were sent; what waits in the broker is what 10 reads of 64 KiB hold (plus slack).
    expect(held).toBeGreaterThan(0);
    expect(held).toBeLessThan(n * 200);
    ingest.release();
    await Promise.all(acks);
    expect(await waitFor(() => ingest.committed.length === n * per)).toBe(true);
  }, 120_000);
});
