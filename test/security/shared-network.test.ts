import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  type AgentProcess,
  freePort,
  killHard,
  startAgentProcess,
  tempDir,
} from "../helpers/agent-process.js";
import { haveMosquittoClients, mosquittoArgs, runMosquittoClient } from "../helpers/mosquitto-clients.js";
import { waitFor } from "../helpers/recording-ingest.js";
import { makePki } from "../helpers/tls-certs.js";
import { haveTool } from "../helpers/tools.js";
import { NdjsonServer } from "../sinks/http-server.js";

/**
 * config/shared-network.json as shipped, with only its files, ports and upstream pointed at this
 * test: devices log in by certificate, publish only under their own name, cannot take another
 * device's client id, cannot subscribe; a client without a certificate gets nothing.
 */

let agent: AgentProcess | undefined;
const upstream = new NdjsonServer();
afterEach(async () => {
  if (agent) await killHard(agent);
  agent = undefined;
  await upstream.stop();
});

describe.skipIf(!haveTool("openssl", "the shared-network config test") || !haveMosquittoClients)(
  "config/shared-network.json",
  () => {
    it("admits a device by certificate only to its own topics, nothing else", async () => {
      const dir = tempDir("edgespool-shared-");
      const pki = makePki(dir, "devices");
      const server = pki.issue("broker", "/CN=edgespool", "IP:127.0.0.1,DNS:localhost");
      const kitchen = pki.issue("thermo-kitchen", "/CN=thermo-kitchen");
      const [port, httpPort] = [await freePort(), await freePort()];
      const url = await upstream.start(httpPort);

      const cfg = JSON.parse(readFileSync("config/shared-network.json", "utf8")) as {
        dataDir: string;
        http: { port: number };
        sources: { host: string; port: number; tls: Record<string, unknown> }[];
        sinks: { url: string }[];
      };
      cfg.dataDir = join(dir, "data");
      cfg.http.port = await freePort();
      Object.assign(cfg.sources[0]!, { host: "127.0.0.1", port });
      Object.assign(cfg.sources[0]!.tls, {
        certFile: server.certFile,
        keyFile: server.keyFile,
        caFile: pki.caFile,
      });
      cfg.sinks[0]!.url = url;
      const env = { EDGESPOOL_UPSTREAM_TOKEN: "shared-net-token", EDGESPOOL_SPOOL_KEY: "f".repeat(32) };
      agent = await startAgentProcess(dir, cfg, port, env);

      const tls = (c?: { certFile: string; keyFile: string }) => [
        "--cafile",
        pki.caFile,
        ...(c ? ["--cert", c.certFile, "--key", c.keyFile] : []),
      ];
      const pub = (id: string, topic: string, c = kitchen) =>
        runMosquittoClient("mosquitto_pub", [
          ...mosquittoArgs(port, { id }),
          ...tls(c),
          "-q",
          "1",
          "-t",
          topic,
          "-m",
          JSON.stringify({ temperature: 21.5 }),
        ]);

      expect((await pub("thermo-kitchen", "sensors/thermo-kitchen/t1")).code).toBe(0);
      // Another device's topic: not stored (the device may or may not be told, per MQTT 3.1.1).
      await pub("thermo-kitchen", "sensors/thermo-office/t1");
      // Another device's client id, and no certificate at all: refused at CONNECT / handshake.
      expect((await pub("thermo-office", "sensors/thermo-kitchen/t2")).code).not.toBe(0);
      const noCert = await runMosquittoClient("mosquitto_pub", [
        ...mosquittoArgs(port, { id: "thermo-kitchen", user: "thermo-kitchen" }),
        ...tls(),
        "-t",
        "sensors/thermo-kitchen/t3",
        "-m",
        "{}",
      ]);
      expect(noCert.code).not.toBe(0);
      // No subscriptions on an ingest endpoint, not even to a device's own readings.
      const sub = await runMosquittoClient(
        "mosquitto_sub",
        [...mosquittoArgs(port, { id: "thermo-kitchen" }), ...tls(kitchen), "-t", "#", "-C", "1", "-W", "3"],
        10_000,
      );
      expect(sub.stderr).toContain("All subscription requests were denied");
      expect(sub.stdout).toBe("");

      expect(await waitFor(() => upstream.accepted.length >= 1, 15_000)).toBe(true);
      await new Promise((r) => setTimeout(r, 1500)); // anything wrongly admitted would follow it
      const sensors = upstream.accepted.map((l) => (JSON.parse(l) as { sensor: string }).sensor);
      expect(sensors).toEqual(["thermo-kitchen/t1"]);
      expect(upstream.requests[0]!.headers.authorization).toBe("Bearer shared-net-token");
    }, 60_000);
  },
);
