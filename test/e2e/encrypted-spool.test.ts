import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import mqtt from "mqtt";
import { afterEach, describe, expect, it } from "vitest";
import {
  type AgentProcess,
  freePort,
  killHard,
  runCli,
  spawnAgent,
  startAgentProcess,
  tempDir,
} from "../helpers/agent-process.js";
import { waitFor } from "../helpers/recording-ingest.js";
import { NdjsonServer } from "../sinks/http-server.js";

const KEY = "3f9c2a7e5b1d8046c3e2f1a09b8d7c6e";
const N = 200;

let agent: AgentProcess | undefined;
const receiver = new NdjsonServer();
afterEach(async () => {
  if (agent) await killHard(agent);
  agent = undefined;
  await receiver.stop();
});

async function cli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string }> {
  const { code, stdout, stderr } = await runCli(args, env);
  return { code, out: stdout + stderr };
}

describe("encrypted spool through the CLI", () => {
  it("kill -9 with a key loses nothing; status needs the key; a wrong key stops the start and moves nothing", async () => {
    const dir = tempDir("edgespool-enc-");
    const [brokerPort, httpPort] = [await freePort(), await freePort()];
    const config = {
      agentId: "enc-test",
      dataDir: join(dir, "data"),
      spool: { key: "${EDGESPOOL_SPOOL_KEY}" },
      sources: [{ type: "mqtt-broker", id: "in", port: brokerPort, topics: ["s/#"], sensor: "{sensor}" }],
      // The receiver is down at first, so every reading stays in the spool across the kill.
      sinks: [{ type: "http", id: "up", url: `http://127.0.0.1:${httpPort}/ingest`, retry: { maxMs: 200 } }],
      http: { enabled: false },
    };
    agent = await startAgentProcess(dir, config, brokerPort, { EDGESPOOL_SPOOL_KEY: KEY });
    const dev = await mqtt.connectAsync(`mqtt://127.0.0.1:${brokerPort}`, { clientId: "dev" });
    await Promise.all(
      Array.from({ length: N }, (_, i) =>
        dev.publishAsync(
          "s/x",
          JSON.stringify({ sensor: `room-${i % 4}`, temperature: 20 + i / 100, seq: i }),
          {
            qos: 1,
          },
        ),
      ),
    );
    await dev.endAsync(true);
    await killHard(agent); // every PUBACK above means committed
    agent = undefined;

    const data = join(dir, "data");
    for (const f of readdirSync(data).filter((f) => f.startsWith("spool.db")))
      expect(readFileSync(join(data, f)).includes("room-1"), f).toBe(false);

    const file = join(dir, "config.json");
    const status = await cli(["status", "--json", "--config", file], { EDGESPOOL_SPOOL_KEY: KEY });
    expect(status.code).toBe(0);
    expect((JSON.parse(status.out) as { sinks: { depth: number }[] }).sinks[0]!.depth).toBe(N);

    const before = readdirSync(data).sort();
    const wrong = spawnAgent(dir, config, { EDGESPOOL_SPOOL_KEY: "not-the-key-0123456789" });
    expect(await wrong.exited).toBe(1);
    expect(wrong.stderr()).toMatch(/spool\.key does not match .* left untouched/);
    expect(wrong.stderr()).not.toContain("not-the-key-0123456789");
    // `check` (systemd's ExecStartPre) catches the wrong key before a start is even tried.
    const check = await cli(["check", "--config", file], { EDGESPOOL_SPOOL_KEY: "not-the-key-0123456789" });
    expect(check.code).toBe(1);
    expect(check.out).toMatch(/spool\.key does not match/);
    expect((await cli(["check", "--config", file], { EDGESPOOL_SPOOL_KEY: KEY })).code).toBe(0);
    const noKey = await cli(["status", "--json", "--config", file], {});
    expect(noKey.code).toBe(1);
    expect(noKey.out).toMatch(/EDGESPOOL_SPOOL_KEY is not set/);
    expect(readdirSync(data).sort()).toEqual(before);

    await receiver.start(httpPort);
    agent = spawnAgent(dir, config, { EDGESPOOL_SPOOL_KEY: KEY });
    expect(await waitFor(() => receiver.accepted.length >= N, 20_000)).toBe(true);
    const ids = new Set(receiver.accepted.map((l) => (JSON.parse(l) as { id: string }).id));
    expect(ids.size).toBe(N);
  }, 60_000);
});
