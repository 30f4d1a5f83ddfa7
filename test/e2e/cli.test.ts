import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import mqtt from "mqtt";
import { afterEach, describe, expect, it } from "vitest";
import {
  type AgentProcess,
  CLI,
  freePort,
  killHard,
  spawnAgent,
  tempDir,
  waitForPort,
} from "../helpers/agent-process.js";

const run = promisify(execFile);

async function cli(args: string[], cwd?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], {
      cwd,
      env: { ...process.env, EDGESPOOL_LOG_LEVEL: "warn" },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

let agent: AgentProcess | undefined;
afterEach(async () => {
  if (agent) await killHard(agent);
  agent = undefined;
});

describe("edgespool CLI", () => {
  it("prints help for the program and each command", async () => {
    const top = await cli(["--help"]);
    expect(top.code).toBe(0);
    for (const c of ["run", "check", "status", "sim", "consume"]) expect(top.stdout).toContain(c);
    const check = await cli(["check", "--help"]);
    expect(check.stdout).toContain("--config");
  });

  it("check: exit 0 for a valid config, exit 1 with every error and its path otherwise, no stack", async () => {
    const dir = tempDir();
    const good = join(dir, "good.json");
    writeFileSync(good, JSON.stringify({ sinks: [{ type: "stdout", id: "out" }] }));
    const ok = await cli(["check", "--config", good]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain("ok");
    const bad = join(dir, "bad.json");
    writeFileSync(
      bad,
      JSON.stringify({
        sinks: [{ type: "stdout", id: "out", maxBatchRecords: 0, colour: 1 }],
        spool: { onFull: "x" },
      }),
    );
    const res = await cli(["check", "--config", bad]);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain("sinks[0].maxBatchRecords: expected a positive integer");
    expect(res.stderr).toContain("sinks[0].colour: unknown key");
    expect(res.stderr).toMatch(/spool\.onFull: /);
    expect(res.stderr).not.toMatch(/\n\s+at /);
  });

  it("run refuses a bad config at start with the same messages", async () => {
    const dir = tempDir();
    const file = join(dir, "bad.yaml");
    writeFileSync(file, "sinks:\n  - type: stdout\n    id: out\n    maxBufferAgeMs: soon\n");
    const res = await cli(["run", "--config", file]);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(
      'sinks[0].maxBufferAgeMs: expected a duration like "30s", "24h", got "soon"',
    );
  });

  it("run serves /metrics and /healthz, status reads the spool while it runs, SIGTERM stops it cleanly", async () => {
    const dir = tempDir();
    const [mqttPort, httpPort] = [await freePort(), await freePort()];
    const config = {
      agentId: "cli-test",
      dataDir: join(dir, "data"),
      sources: [
        {
          type: "mqtt-broker",
          id: "m",
          port: mqttPort,
          topicTemplate: "sensors/{sensor}",
          sensor: "{sensor}",
        },
      ],
      sinks: [{ type: "file", id: "files", dir: join(dir, "out"), maxBufferAgeMs: 10 }],
      http: { port: httpPort },
    };
    agent = spawnAgent(dir, config);
    await waitForPort(mqttPort);
    await waitForPort(httpPort);
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`);
    for (let i = 0; i < 20; i++)
      await client.publishAsync("sensors/hall", JSON.stringify({ temperature: 19 + i / 10 }), { qos: 1 });
    await client.publishAsync("sensors/hall", "{oops", { qos: 1 });
    await client.endAsync();

    const health = await fetch(`http://127.0.0.1:${httpPort}/healthz`);
    expect(health.status).toBe(200);
    let metrics = "";
    for (let i = 0; i < 50 && !/edgespool_shipped_total\{sink="files"\} 20/.test(metrics); i++) {
      await new Promise((r) => setTimeout(r, 100));
      metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    }
    expect(metrics).toMatch(/edgespool_readings_in_total\{source="m"\} 20/);
    expect(metrics).toMatch(/edgespool_rejected_total\{source="m",reason="invalid-json"\} 1/);
    expect(metrics).toMatch(/edgespool_shipped_total\{sink="files"\} 20/);
    expect(metrics).toMatch(/edgespool_sink_depth\{sink="files"\} 0/);

    const status = await cli(["status", "--config", join(dir, "config.json"), "--interval", "0"]);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/files\s+0\s+-\s+20/);
    const json = await cli(["status", "--config", join(dir, "config.json"), "--json"]);
    expect(JSON.parse(json.stdout)).toMatchObject({
      lastSeq: 20,
      sinks: [{ sink: "files", shipped: 20, depth: 0 }],
    });

    agent.child.kill("SIGTERM");
    expect(await agent.exited).toBe(0);
  });
});
