import { describe, expect, it } from "vitest";
import { haveMosquittoClients, mosquittoArgs, runMosquittoClient } from "../../helpers/mosquitto-clients.js";
import { waitFor } from "../../helpers/recording-ingest.js";
import { connect, refusedCount, sleep, suback } from "./helpers.js";
import { reading, sensors, sharedNetwork } from "./shared-network.js";

/**
 * The embedded broker on a shared network, driven by independent clients (mqtt.js and
 * Mosquitto's mosquitto_pub/mosquitto_sub): one device may not read or impersonate another.
 * Mutual TLS and the brute-force and flood limits are in security-tls-limits.test.ts.
 */

const { setup, client } = sharedNetwork();

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
