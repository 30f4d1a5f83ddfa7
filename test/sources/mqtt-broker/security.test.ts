import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { MqttBrokerSource } from "../../../agent/sources/mqtt-broker/index.js";
import { silentLogger } from "../../../agent/telemetry/logger.js";
import { Telemetry } from "../../../agent/telemetry/telemetry.js";
import { haveMosquittoClients, mosquittoArgs, runMosquittoClient } from "../../helpers/mosquitto-clients.js";
import { RecordingIngest, waitFor } from "../../helpers/recording-ingest.js";
import { makePki, type Pki } from "../../helpers/tls-certs.js";
import {
  connect,
  context,
  GatedIngest,
  refusedCount,
  rejectedCount,
  sleep,
  startBroker,
  suback,
} from "./helpers.js";

/**
 * The embedded broker on a shared network, driven by independent clients (mqtt.js and
 * Mosquitto's mosquitto_pub/mosquitto_sub): one device may not read or impersonate another.
 */

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

const reading = (sensor: string, extra = "") => `{"sensor":"${sensor}","temperature":21.5${extra}}`;
const sensors = (r: RecordingIngest) => r.readings.map((x) => x.reading.sensor);

const DEVICES = [
  { username: "dev1", password: "pw-1", publish: ["sensors/{username}/#"] },
  { username: "dev2", password: "pw-2", publish: ["sensors/{username}/#"] },
  { username: "watcher", password: "pw-w", subscribe: ["sensors/#"] },
  { username: "admin", password: "pw-a", subscribe: ["#", "$SYS/#"] },
];

describe.skipIf(!haveMosquittoClients)("mqtt-broker on a shared network", () => {
  it("checks subscriptions against the ACL, per filter; none are granted by default; $SYS only when granted", async () => {
    const { src } = await setup({ auth: DEVICES });
    const port = src.port;
    // dev1 may publish its own readings but subscribe to nothing: both filters refused (0x80).
    const dev1 = await client(src, { username: "dev1", password: "pw-1", clientId: "dev1" });
    expect(await suback(dev1, { "#": { qos: 1 }, "sensors/dev2/#": { qos: 1 } })).toEqual([128, 128]);
    const leaked: string[] = [];
    dev1.on("message", (t) => leaked.push(t));

    // The watcher gets what it was granted, per filter: sensors/# yes, $SYS/# no.
    const watcher = await client(src, { username: "watcher", password: "pw-w" });
    const w = await suback(watcher, { "sensors/#": { qos: 1 }, "$SYS/#": { qos: 0 }, "#": { qos: 0 } });
    expect(w).toEqual([1, 128, 128]);
    const seen: string[] = [];
    watcher.on("message", (t) => seen.push(t));

    // mosquitto_sub as dev2 on dev1's topics: refused.
    const sub = await runMosquittoClient("mosquitto_sub", [
      ...mosquittoArgs(port, { user: "dev2", pass: "pw-2" }),
      "-t",
      "sensors/dev1/#",
      "-q",
      "1",
      "-C",
      "1",
      "-W",
      "3",
    ]);
    expect(sub.stdout).toBe("");
    expect(sub.stderr).toMatch(/denied/i);

    // dev2 publishes a reading with a private field, with mosquitto_pub.
    const pub = await runMosquittoClient("mosquitto_pub", [
      ...mosquittoArgs(port, { user: "dev2", pass: "pw-2", id: "dev2" }),
      "-t",
      "sensors/dev2/t",
      "-q",
      "1",
      "-m",
      reading("dev2", ',"wifiPsk":"private"'),
    ]);
    expect(pub.code).toBe(0);
    expect(await waitFor(() => seen.includes("sensors/dev2/t"))).toBe(true);
    await sleep(200);
    expect(leaked).toEqual([]);

    // Only a user granted $SYS reads it (it names every client that connects).
    const admin = await client(src, { username: "admin", password: "pw-a" });
    expect(await suback(admin, { "$SYS/#": { qos: 0 } })).toEqual([0]);
    const sys: string[] = [];
    admin.on("message", (t) => sys.push(t));
    await client(src, { username: "dev1", password: "pw-1", clientId: "dev1-second" });
    expect(await waitFor(() => sys.some((t) => t.endsWith("/new/clients")))).toBe(true);
  });

  it("refuses subscriptions without auth unless the source grants them", async () => {
    const closed = await setup({});
    const anon = await runMosquittoClient("mosquitto_sub", [
      ...mosquittoArgs(closed.src.port),
      "-t",
      "#",
      "-C",
      "1",
      "-W",
      "3",
    ]);
    expect(anon.stderr).toMatch(/denied/i);
    expect(await refusedCount(closed.telemetry, "subscribe-denied")).toBe(1);

    const granted = await setup({ subscribe: ["sensors/#"] });
    const c = await client(granted.src);
    expect(await suback(c, { "sensors/#": { qos: 1 }, "$SYS/#": { qos: 0 } })).toEqual([1, 128]);
  });

  it("keeps client ids with + # / out of ACL patterns, and only there", async () => {
    const { telemetry, recording, src } = await setup({
      auth: [
        // `topics`, the older name of `publish`.
        { username: "dev", password: "pw", topics: ["sensors/{clientId}/#"] },
        { username: "tracker", password: "pw-t", topics: ["owntracks/#"] },
      ],
    });
    // Client id "+" would turn sensors/{clientId}/# into sensors/+/#: refused at CONNECT.
    for (const id of ["+", "#", "dev2/x", "a+b"]) {
      const r = await runMosquittoClient("mosquitto_pub", [
        ...mosquittoArgs(src.port, { user: "dev", pass: "pw", id }),
        "-t",
        "sensors/dev2/t",
        "-q",
        "1",
        "-m",
        reading("spoof"),
      ]);
      expect(r.code, id).not.toBe(0);
      expect(r.stderr, id).toMatch(/identifier rejected/i);
    }
    await expect(connect(src.port, { username: "dev", password: "pw", clientId: "+" })).rejects.toThrow(
      /identifier rejected/i,
    );
    expect(await refusedCount(telemetry, "client-id")).toBe(5);
    // Where no pattern uses the id, an id with "/" is fine (OwnTracks, govee2mqtt, OpenBeken).
    const tracker = await client(src, {
      username: "tracker",
      password: "pw-t",
      clientId: "owntracks/anna/phone",
    });
    await tracker.publishAsync("owntracks/anna/phone", reading("anna"), { qos: 1 });
    const dev = await client(src, { username: "dev", password: "pw", clientId: "dev1" });
    await dev.publishAsync("sensors/dev1/t", reading("dev1"), { qos: 1 });
    expect(sensors(recording)).toEqual(["anna", "dev1"]);
  });

  it("binds users to their client ids and refuses a takeover by another user", async () => {
    const { telemetry, recording, src } = await setup({
      auth: [
        { username: "dev1", password: "pw-1", clientIds: ["{username}", "{username}-*"] },
        { username: "dev2", password: "pw-2", clientIds: ["{username}", "{username}-*"] },
        { username: "ops", password: "pw-o" },
        { username: "ops2", password: "pw-o2" },
      ],
    });
    const dev2 = await client(src, { username: "dev2", password: "pw-2", clientId: "dev2" });
    let dev2Closed = false;
    dev2.on("close", () => (dev2Closed = true));
    // dev1 with its own password but dev2's client id: refused, and dev2 stays connected.
    const r = await runMosquittoClient("mosquitto_pub", [
      ...mosquittoArgs(src.port, { user: "dev1", pass: "pw-1", id: "dev2" }),
      "-t",
      "t",
      "-m",
      reading("x"),
    ]);
    expect(r.stderr).toMatch(/identifier rejected/i);
    await client(src, { username: "dev1", password: "pw-1", clientId: "dev1-probe" });

    // Users without clientIds: a second user may not take over an id in use...
    const ops = await client(src, { username: "ops", password: "pw-o", clientId: "gateway" });
    await expect(
      connect(src.port, { username: "ops2", password: "pw-o2", clientId: "gateway" }),
    ).rejects.toThrow(/identifier rejected/i);
    expect(await refusedCount(telemetry, "client-id-taken")).toBe(1);
    expect(ops.connected).toBe(true);
    // ...but the same user may, as MQTT requires (a device reconnecting before its old socket died).
    const opsAgain = await client(src, { username: "ops", password: "pw-o", clientId: "gateway" });
    expect(await waitFor(() => !ops.connected)).toBe(true);
    await opsAgain.publishAsync("t", reading("ops"), { qos: 1 });
    await sleep(100);
    expect(dev2Closed).toBe(false);
    expect(sensors(recording)).toEqual(["ops"]);
  });
});

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
    clients.push(c);
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
