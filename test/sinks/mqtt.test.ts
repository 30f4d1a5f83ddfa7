import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer as createTlsServer } from "node:tls";
import { Aedes, type AuthorizePublishHandler } from "aedes";
import mqtt, { type IClientOptions } from "mqtt";
import { afterEach, describe, expect, it } from "vitest";
import { mqttSinkSchema } from "../../agent/sinks/mqtt/config.js";
import { createMqttSink } from "../../agent/sinks/mqtt/index.js";
import { type Sink, SinkError } from "../../agent/sinks/sink.js";
import { AedesEndpoint } from "./aedes-endpoint.js";
import { arrived, expectAccepted, records, sinkConformance, testContext } from "./conformance.js";
import { makePki } from "../helpers/tls-certs.js";
import { haveTool } from "../helpers/tools.js";

const signal = new AbortController().signal;
const FAST = { reconnect: { initialMs: 20, maxMs: 200 }, connectTimeoutMs: 2000 };
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function endpoint(): Promise<AedesEndpoint> {
  const ep = await new AedesEndpoint().start();
  await ep.subscribe();
  cleanups.push(() => ep.stop());
  return ep;
}

function make(url: string, extra: Record<string, unknown> = {}, dialed?: IClientOptions[]): Sink {
  const cfg = mqttSinkSchema.parse({ type: "mqtt", id: "up", url, ...FAST, ...extra });
  const s = createMqttSink(cfg, testContext("pi"), {
    dial: (u, o) => {
      dialed?.push(o);
      return mqtt.connect(u, o);
    },
  });
  cleanups.push(() => s.close());
  return s;
}

sinkConformance("mqtt", async () => {
  const ep = await new AedesEndpoint().start();
  await ep.subscribe();
  return {
    make: () =>
      createMqttSink(mqttSinkSchema.parse({ type: "mqtt", id: "up", url: ep.url, ...FAST }), testContext()),
    received: () => ep.got.map((m) => m.payload),
    outage: { begin: () => ep.down(), end: () => ep.up() },
    teardown: () => ep.stop(),
  };
});

describe("mqtt sink", () => {
  it("publishes to the topic template at QoS1, one message per record", async () => {
    const ep = await endpoint();
    const qos: number[] = [];
    ep.broker.on("publish", (p, client) => {
      if (client) qos.push(p.qos);
    });
    const sink = make(ep.url, { topic: "fleet/{agent}/{sensor}/{source}" });
    await sink.start();
    const rs = [...records(2, "kitchen/t1"), ...records(1, "odd+name#")];
    expectAccepted(await sink.write(rs, signal));
    const got = await arrived({ received: () => ep.got.map((m) => m.payload) }, 3);
    expect(got).toEqual(rs.map((r) => r.body));
    expect(ep.got.map((m) => m.topic)).toEqual([
      "fleet/pi/kitchen/t1/conf",
      "fleet/pi/kitchen/t1/conf",
      "fleet/pi/odd_name_/conf",
    ]);
    expect(qos.filter((q) => q === 1).length).toBeGreaterThanOrEqual(3);
  });

  it("resolves a batch only when every PUBACK arrived", async () => {
    const ep = await endpoint();
    const held: (() => void)[] = [];
    const authorize: AuthorizePublishHandler = (client, _packet, cb) => {
      if (client?.id.startsWith("edgespool-")) held.push(() => cb(null));
      else cb(null);
    };
    ep.broker.authorizePublish = authorize;
    const sink = make(ep.url);
    await sink.start();
    let settled = false;
    const p = sink.write(records(3), signal).finally(() => {
      settled = true;
    });
    for (let i = 0; i < 100 && held.length < 3; i++) await new Promise((r) => setTimeout(r, 10));
    expect(held).toHaveLength(3);
    held[0]!();
    held[1]!();
    await new Promise((r) => setTimeout(r, 100));
    expect(settled).toBe(false);
    held[2]!();
    expectAccepted(await p);
  });

  it("a PUBACK that never comes fails the batch (retryable) and the sink reconnects", async () => {
    const ep = await endpoint();
    let hold = true;
    ep.broker.authorizePublish = (client, _packet, cb) => {
      if (!hold || !client?.id.startsWith("edgespool-")) cb(null);
    };
    const sink = make(ep.url, { ackTimeoutMs: 200 });
    await sink.start();
    const batch = records(2);
    await expect(sink.write(batch, signal)).rejects.toMatchObject({
      code: "MQTT_ACK_TIMEOUT",
      retryable: true,
    });
    hold = false;
    let res: Awaited<ReturnType<Sink["write"]>> | undefined;
    for (let i = 0; i < 100 && !res; i++)
      res = await sink.write(batch, signal).catch(async (e: unknown) => {
        expect(e).toBeInstanceOf(SinkError);
        await new Promise((r) => setTimeout(r, 20));
        return undefined;
      });
    expectAccepted(res!);
  });

  it("manages reconnects itself (mqtt.js reconnectPeriod 0) and comes back without a write", async () => {
    const ep = await endpoint();
    const dialed: IClientOptions[] = [];
    const sink = make(ep.url, {}, dialed);
    await sink.start();
    expect(dialed[0]).toMatchObject({ reconnectPeriod: 0, clientId: "edgespool-pi-up", keepalive: 30 });
    await ep.down();
    await new Promise((r) => setTimeout(r, 300)); // a few failed, backed-off dials
    const failedDials = dialed.length;
    expect(failedDials).toBeGreaterThan(1);
    expect(failedDials).toBeLessThan(20);
    const err = await sink.write(records(1), signal).catch((e: unknown) => e);
    expect(err).toMatchObject({ retryable: true });
    const back = new Promise<void>((r) => ep.broker.on("client", (c) => c.id === "edgespool-pi-up" && r()));
    await ep.listen(ep.port);
    await back;
    await new Promise((r) => setTimeout(r, 100)); // its CONNACK
    expectAccepted(await sink.write(records(1), signal));
  });

  it("a broker that is not there at start: start fails with a retryable error", async () => {
    const ep = await endpoint();
    await ep.down();
    const sink = make(ep.url);
    await expect(sink.start()).rejects.toMatchObject({ code: "MQTT_CONNECT", retryable: true });
  });

  it.skipIf(!haveTool("openssl", "the mqtt sink TLS test"))(
    "connects over TLS with a private CA and a client certificate (AWS IoT Core style)",
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "edgespool-tls-"));
      cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
      const pki = makePki(dir, "test");
      const server = pki.issue("server", "/CN=127.0.0.1", "IP:127.0.0.1");
      const client = pki.issue("client", "/CN=edgespool-pi-up");
      const broker = await Aedes.createBroker();
      const peers: string[] = [];
      const tlsServer = createTlsServer(
        {
          key: readFileSync(server.keyFile),
          cert: readFileSync(server.certFile),
          ca: readFileSync(pki.caFile),
          requestCert: true,
          rejectUnauthorized: true,
        },
        (sock) => {
          peers.push(sock.getPeerCertificate().subject.CN as string);
          broker.handle(sock);
        },
      );
      tlsServer.listen(0, "127.0.0.1");
      await once(tlsServer, "listening");
      cleanups.push(async () => {
        await new Promise<void>((r) => broker.close(() => r()));
        await new Promise<void>((r) => tlsServer.close(() => r()));
      });
      const got: string[] = [];
      broker.on("publish", (p, client) => {
        if (client) got.push(p.payload.toString());
      });
      const url = `mqtts://127.0.0.1:${(tlsServer.address() as AddressInfo).port}`;
      const tls = { caFile: pki.caFile, certFile: client.certFile, keyFile: client.keyFile };
      const sink = make(url, { tls });
      await sink.start();
      const rs = records(2);
      expectAccepted(await sink.write(rs, signal));
      expect(got).toEqual(rs.map((r) => r.body));
      expect(peers).toContain("edgespool-pi-up");
      const noCert = make(url, { tls: { caFile: tls.caFile }, clientId: "intruder" });
      await expect(noCert.start()).rejects.toMatchObject({ code: "MQTT_CONNECT" });
    },
  );

  it("rejects bad topic templates at config time", () => {
    for (const topic of ["x/{room}", "x/+/y"]) {
      const r = mqttSinkSchema.safeParse({ type: "mqtt", id: "up", url: "mqtt://h", topic });
      expect(r.success).toBe(false);
      expect(r.error!.issues[0]!.path).toEqual(["topic"]);
    }
  });
});
