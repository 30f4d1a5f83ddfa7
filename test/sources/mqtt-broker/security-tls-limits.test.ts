import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt, { type IClientOptions } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { haveMosquittoClients, mosquittoArgs, runMosquittoClient } from "../../helpers/mosquitto-clients.js";
import { makePki, type Pki } from "../../helpers/tls-certs.js";
import { connect, refusedCount, rejectedCount } from "./helpers.js";
import { reading, sensors, sharedNetwork } from "./shared-network.js";

/**
 * The embedded broker on a shared network, continued from security.test.ts: mutual TLS, and
 * the limits that keep one client from locking others out (brute force, floods, connections).
 */

const { setup, client, track } = sharedNetwork();

describe.skipIf(!haveMosquittoClients)("mqtt-broker mutual TLS", () => {
  let dir: string;
  let pki: Pki;
  let server: { certFile: string; keyFile: string };
  let dev1: { certFile: string; keyFile: string };
  let stranger: { certFile: string; keyFile: string };
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "edgespool-mtls-"));
    pki = makePki(dir, "site");
    server = pki.issue("server", "/CN=localhost", "IP:127.0.0.1,DNS:localhost");
    dev1 = pki.issue("dev1", "/CN=dev1");
    stranger = makePki(dir, "other").issue("stranger", "/CN=dev1");
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const tlsOpts = (cert?: { certFile: string; keyFile: string }): IClientOptions => ({
    ca: readFileSync(pki.caFile),
    ...(cert === undefined ? {} : { cert: readFileSync(cert.certFile), key: readFileSync(cert.keyFile) }),
    reconnectPeriod: 0,
    connectTimeout: 3000,
  });

  it("requires a client certificate signed by tls.caFile, and can take the username from it", async () => {
    const { recording, telemetry, src } = await setup({
      tls: { ...server, caFile: pki.caFile, useIdentityAsUsername: true },
      auth: [{ username: "dev1", publish: ["sensors/{username}/#"] }],
    });
    const url = `mqtts://127.0.0.1:${src.port}`;
    await expect(mqtt.connectAsync(url, tlsOpts(), false)).rejects.toThrow();
    await expect(mqtt.connectAsync(url, tlsOpts(stranger), false)).rejects.toThrow();
    // The certificate says dev1, whatever CONNECT claims: dev2's topics stay closed.
    const c = await mqtt.connectAsync(url, { ...tlsOpts(dev1), username: "dev2", password: "x" }, false);
    track(c);
    await c.publishAsync("sensors/dev1/t", reading("by-cert"), { qos: 1 });
    await c.publishAsync("sensors/dev2/t", reading("spoof"), { qos: 1 });
    // The same with mosquitto_pub.
    const common = ["-h", "127.0.0.1", "-p", String(src.port), "-V", "mqttv311", "--cafile", pki.caFile];
    const ok = await runMosquittoClient("mosquitto_pub", [
      ...common,
      "--cert",
      dev1.certFile,
      "--key",
      dev1.keyFile,
      "-t",
      "sensors/dev1/t",
      "-q",
      "1",
      "-m",
      reading("mosq"),
    ]);
    expect(ok.code).toBe(0);
    const noCert = await runMosquittoClient("mosquitto_pub", [...common, "-t", "sensors/dev1/t", "-m", "1"]);
    expect(noCert.code).not.toBe(0);
    expect(sensors(recording)).toEqual(["by-cert", "mosq"]);
    expect(await rejectedCount(telemetry, "not-authorized")).toBe(1);
  });
});

describe.skipIf(!haveMosquittoClients)("mqtt-broker brute-force and flood limits", () => {
  it("locks an address out after repeated failed logins, good password included", async () => {
    const { telemetry, src } = await setup({
      auth: { username: "dev", password: "right" },
      limits: { maxLoginFailures: 3, loginWindow: "10m" },
    });
    for (let i = 0; i < 3; i++) {
      const r = await runMosquittoClient("mosquitto_pub", [
        ...mosquittoArgs(src.port, { user: "dev", pass: `guess-${i}` }),
        "-t",
        "t",
        "-m",
        "1",
      ]);
      expect(r.stderr).toMatch(/bad user name or password/i);
    }
    await expect(connect(src.port, { username: "dev", password: "right" })).rejects.toThrow(
      /not authori[sz]ed/i,
    );
    expect(await refusedCount(telemetry, "bad-credentials")).toBe(3);
    expect(await refusedCount(telemetry, "login-rate")).toBe(1);
  });

  it("limits each client's publish rate and message size, counting what it refuses", async () => {
    const { telemetry, recording, src } = await setup({ limits: { publishRate: 1 }, maxPacketSize: 1024 });
    const flood = await client(src, { clientId: "flood" });
    const n = 50;
    await Promise.all(
      Array.from({ length: n }, (_, i) => flood.publishAsync("t/flood", reading(`f${i}`), { qos: 1 })),
    );
    const limited = await rejectedCount(telemetry, "rate-limited");
    // A bucket of 2 refilled at 1/s: however slow this machine, most of the burst is refused.
    expect(limited).toBeGreaterThan(n / 2);
    expect(recording.readings.length + limited).toBe(n);
    expect(flood.connected).toBe(true);
    // Another client has its own budget.
    const calm = await client(src, { clientId: "calm" });
    await calm.publishAsync("t/calm", reading("calm"), { qos: 1 });
    expect(sensors(recording)).toContain("calm");
    // Oversized messages from mosquitto_pub are acked in place and counted.
    const big = await runMosquittoClient("mosquitto_pub", [
      ...mosquittoArgs(src.port, { id: "big" }),
      "-t",
      "t/big",
      "-q",
      "1",
      "-m",
      "x".repeat(4000),
    ]);
    expect(big.code).toBe(0);
    expect(await rejectedCount(telemetry, "too-large")).toBe(1);
  });

  it("refuses connections beyond limits.maxConnections", async () => {
    const { telemetry, src } = await setup({ limits: { maxConnections: 2 } });
    await client(src, { clientId: "a" });
    await client(src, { clientId: "b" });
    await expect(connect(src.port, { clientId: "c", connectTimeout: 2000 })).rejects.toThrow();
    expect(await refusedCount(telemetry, "max-connections")).toBe(1);
  });
});
