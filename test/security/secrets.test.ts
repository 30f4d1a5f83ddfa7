import { writeFileSync } from "node:fs";
import { join } from "node:path";
import mqtt from "mqtt";
import { afterAll, describe, expect, it } from "vitest";
import {
  type AgentProcess,
  freePort,
  killHard,
  runCli,
  spawnAgent,
  tempDir,
  waitForPort,
} from "../helpers/agent-process.js";
import { haveMosquitto, Mosquitto } from "../helpers/mosquitto.js";
import { waitFor } from "../helpers/recording-ingest.js";
import {
  createStream,
  client as kinesisClient,
  type Kinesalite,
  startKinesalite,
} from "../kinesis/helpers.js";
import { AedesEndpoint } from "../sinks/aedes-endpoint.js";
import { NdjsonServer } from "../sinks/http-server.js";

/**
 * Every credential-bearing option, each with a value that cannot occur by chance. The run below
 * uses all of them against real parts on 127.0.0.1, through both connect failures and successes,
 * at debug level; then no log line, /metrics, `status --json` or `check` output may contain any.
 */
const SECRET = {
  srcUrlPw: "srcUrlPw-9f1c2e7a",
  srcPw: "srcPw-41d8b0c3",
  srcDownUrlPw: "srcDownUrlPw-5be9a611",
  sinkPw: "sinkPw-e3a94b18",
  sinkBadPw: "sinkBadPw-77c2d9e0",
  httpToken: "httpToken-2a6f8c4d",
  httpApiKey: "httpApiKey-b81e5f07",
  httpEchoToken: "httpEchoToken-6d03a9c2",
  httpUrlPw: "httpUrlPw-f4c1b7e3",
  kinAccessKey: "AKIAKINACCESS5C8E2F1",
  kinSecret: "kinSecret-93b7e4a0d2",
  kinSession: "kinSession-1f6c8a3e",
  brokerPw: "brokerPw-c5e8a2f9",
  brokerWrongPw: "brokerWrongPw-3a9d6e1b",
  spoolKey: "spoolKey-8e2b6c4f1a9d",
  statusToken: "statusToken-5a7e3c9b1d",
} as const;

const cleanup: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const f of cleanup.reverse()) await f().catch(() => {});
});

async function cli(args: string[]): Promise<string> {
  const { stdout, stderr } = await runCli(args);
  return stdout + stderr;
}

function leaks(text: string): string[] {
  const b64 = Buffer.from(`hu:${SECRET.httpUrlPw}`).toString("base64");
  return [...Object.values(SECRET), b64].filter((s) => text.includes(s));
}

describe.skipIf(!haveMosquitto)("no secrets in logs, metrics, status or check output", () => {
  it("a run using every credential-bearing option prints none of them", { timeout: 120_000 }, async () => {
    const dir = tempDir("edgespool-secrets-");
    const mosquitto = new Mosquitto(join(dir, "mosquitto"));
    await mosquitto.start();
    cleanup.push(() => mosquitto.stop());

    const upstream = await new AedesEndpoint().start();
    // The test's own subscriber comes without a username; the agent's sinks must bring the password.
    upstream.broker.authenticate = (_c, user, password, done) =>
      done(null, user === undefined || password?.toString() === SECRET.sinkPw);
    await upstream.subscribe("#");
    cleanup.push(() => upstream.stop());

    const http = new NdjsonServer();
    await http.start();
    // /echo plays a receiver that answers 503 with our request headers in its body.
    http.reply = (req, res) => {
      if (req.headers["x-echo"] !== undefined) {
        res.writeHead(503).end(JSON.stringify(req.headers));
        return false;
      }
      return req.headers.authorization === `Bearer ${SECRET.httpToken}`;
    };
    cleanup.push(() => http.stop());

    const kinesalite: Kinesalite = await startKinesalite();
    cleanup.push(() => kinesalite.close());
    await createStream(kinesisClient(kinesalite.endpoint), "secrets", 1);

    const [dead, brokerPort, metricsPort] = [await freePort(), await freePort(), await freePort()];
    const config = {
      agentId: "secrets-test",
      dataDir: join(dir, "data"),
      log: { level: "debug" },
      shutdownTimeoutMs: 1000,
      spool: { key: SECRET.spoolKey },
      http: { host: "127.0.0.1", port: metricsPort, auth: { token: SECRET.statusToken } },
      sources: [
        {
          type: "mqtt",
          id: "src-up",
          url: `mqtt://srcuser:${SECRET.srcUrlPw}@127.0.0.1:${mosquitto.port}`,
          password: SECRET.srcPw,
          username: "srcuser",
          topics: ["t/#"],
          sensor: "s1",
        },
        {
          type: "mqtt",
          id: "src-down",
          url: `mqtt://srcuser:${SECRET.srcDownUrlPw}@127.0.0.1:${dead}`,
          topics: ["t/#"],
          sensor: "s2",
          reconnect: { initialMs: 100, maxMs: 300 },
        },
        {
          type: "mqtt-broker",
          id: "broker",
          port: brokerPort,
          topics: ["sensors/#"],
          sensor: "dev",
          auth: [{ username: "dev1", password: SECRET.brokerPw }],
        },
      ],
      sinks: [
        {
          type: "mqtt",
          id: "up-ok",
          // mqtt.js takes the URL's userinfo over the username/password options.
          url: `mqtt://sinkuser:${SECRET.sinkPw}@127.0.0.1:${upstream.port}`,
          maxBufferAgeMs: 0,
        },
        {
          type: "mqtt",
          id: "up-bad",
          url: `mqtt://127.0.0.1:${upstream.port}`,
          username: "sinkuser",
          password: SECRET.sinkBadPw,
          retry: { initialMs: 100, maxMs: 300 },
        },
        {
          type: "http",
          id: "http-ok",
          url: `http://127.0.0.1:${http.port}/ingest`,
          headers: { Authorization: `Bearer ${SECRET.httpToken}`, "X-Api-Key": SECRET.httpApiKey },
          maxBufferAgeMs: 0,
        },
        {
          type: "http",
          id: "http-echo",
          url: `http://127.0.0.1:${http.port}/echo`,
          headers: { Authorization: `Bearer ${SECRET.httpEchoToken}`, "X-Echo": "1" },
          retry: { initialMs: 100, maxMs: 300 },
        },
        {
          type: "http",
          id: "http-down",
          url: `http://hu:${SECRET.httpUrlPw}@127.0.0.1:${dead}/x?token=abc`,
          retry: { initialMs: 100, maxMs: 300 },
        },
        {
          type: "kinesis",
          id: "kin",
          stream: "secrets",
          region: "us-east-1",
          endpoint: kinesalite.endpoint,
          accessKeyId: SECRET.kinAccessKey,
          secretAccessKey: SECRET.kinSecret,
          sessionToken: SECRET.kinSession,
          maxBufferAgeMs: 0,
        },
        {
          type: "kinesis",
          id: "kin-down",
          stream: "secrets",
          region: "us-east-1",
          endpoint: `http://127.0.0.1:${dead}`,
          accessKeyId: SECRET.kinAccessKey,
          secretAccessKey: SECRET.kinSecret,
          sessionToken: SECRET.kinSession,
          retry: { initialMs: 100, maxMs: 300 },
        },
      ],
    };
    let out = "";
    const agent: AgentProcess = spawnAgent(dir, config);
    agent.child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
    agent.child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
    cleanup.push(() => killHard(agent));
    await Promise.race([
      waitForPort(metricsPort),
      agent.exited.then((c) => {
        throw new Error(`agent exited ${c}: ${out}`);
      }),
    ]);

    // Readings through the external broker and the embedded one (a right and a wrong password).
    const pub = await mqtt.connectAsync(mosquitto.url, { clientId: "pub" });
    await pub.publishAsync("t/1", JSON.stringify({ temperature: 21.5 }), { qos: 1 });
    await pub.endAsync();
    const dev = await mqtt.connectAsync(`mqtt://127.0.0.1:${brokerPort}`, {
      clientId: "dev1",
      username: "dev1",
      password: SECRET.brokerPw,
    });
    await dev.publishAsync("sensors/dev1", JSON.stringify({ temperature: 22 }), { qos: 1 });
    await dev.endAsync();
    await mqtt
      .connectAsync(`mqtt://127.0.0.1:${brokerPort}`, {
        clientId: "dev1b",
        username: "dev1",
        password: SECRET.brokerWrongPw,
        reconnectPeriod: 0,
      })
      .then((c) => c.endAsync())
      .catch(() => {});

    const seen = (msg: string) => out.includes(`"msg":"${msg}"`);
    const paths = {
      sourceUp: () => seen("mqtt connected"),
      sourceDown: () => seen("mqtt cannot connect; retrying with backoff"),
      sinkUp: () => seen("mqtt sink: connected") && upstream.got.length >= 2,
      sinkRefused: () => /"sink":"up-bad"[^\n]*Not authorized/.test(out),
      httpUp: () => http.accepted.length >= 2,
      httpEcho: () => /"sink":"http-echo"[^\n]*HTTP 503/.test(out),
      httpDown: () => /"sink":"http-down"[^\n]*ECONNREFUSED/.test(out),
      kinesisDown: () => /"sink":"kin-down"[^\n]*ECONNREFUSED/.test(out),
      brokerRefused: () =>
        seen("mqtt client refused at CONNECT") && out.includes(`"reason":"bad-credentials"`),
    };
    const missing = () => Object.keys(paths).filter((k) => !paths[k as keyof typeof paths]());
    await waitFor(() => missing().length === 0, 60_000, 100);
    expect(missing(), `paths not exercised; agent output:\n${out.slice(-3000)}`).toEqual([]);

    const metrics = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then((r) => r.text());
    const apiStatus = await fetch(`http://127.0.0.1:${metricsPort}/api/status?token=${SECRET.statusToken}`);
    expect(apiStatus.status).toBe(200);
    const api = await apiStatus.text();
    const configFile = join(dir, "config.json");
    const status = await cli(["status", "--json", "--config", configFile]);
    expect(status).toContain('"sinks"');
    const check = await cli(["check", "--config", configFile]);
    expect(check).toContain(": ok");
    // A YAML slip on the line holding a password: the parser's code frame would quote it.
    const broken = join(dir, "broken.yaml");
    writeFileSync(broken, `sinks:\n  - type: mqtt\n    id: x\n    password: "${SECRET.sinkPw}" x: [\n`);
    const checkBroken = await cli(["check", "--config", broken]);
    expect(checkBroken).toMatch(/not valid YAML/);

    agent.child.kill("SIGTERM");
    await agent.exited;
    expect(out).toMatch(/"level":20/); // debug lines were captured too
    const everything = { log: out, metrics, api, status, check, checkBroken };
    for (const [where, text] of Object.entries(everything))
      expect(leaks(text), `secrets in ${where}:\n${text.slice(0, 3000)}`).toEqual([]);
  });
});
