import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { contentId } from "../../../agent/record/ids.js";
import type { CanonicalRecord } from "../../../agent/record/record.js";
import { readSpoolStats } from "../../../agent/spool/index.js";
import {
  type AgentProcess,
  CLI,
  freePort,
  killHard,
  spawnAgent,
  tempDir,
} from "../../helpers/agent-process.js";
import { haveMosquitto, Mosquitto } from "../../helpers/mosquitto.js";
import { QosPublisher } from "../../helpers/mqtt-publisher.js";
import { openTestSpool } from "../../helpers/spool-ingest.js";

/**
 * Issue 4: the agent (`edgespool run`, a child process) subscribes to Mosquitto with a persistent
 * session and is SIGKILLed mid-stream, then restarted. Every message Mosquitto acknowledged to its
 * publisher must end up in the spool exactly once by id. The sink posts to a port nobody listens
 * on, so nothing leaves the spool and the spool itself can be inspected afterwards.
 */

const KILLS = Number(process.env.EDGESPOOL_SOAK ? 10 : 3);

let agent: AgentProcess | undefined;
let broker: Mosquitto | undefined;
let dir: string | undefined;
afterEach(async () => {
  if (agent) await killHard(agent);
  await broker?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
  agent = broker = dir = undefined;
});

if (!existsSync(CLI)) console.warn(`${CLI} is missing: run "npx tsc -p ." (npm test does) before this test`);

async function connected(p: AgentProcess): Promise<void> {
  const until = Date.now() + 20_000;
  while (!/"mqtt (re)?connected"/.test(p.stderr())) {
    if (Date.now() > until) throw new Error(`agent did not connect: ${p.stderr()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.skipIf(!haveMosquitto)("mqtt source: SIGKILL the agent mid-stream", () => {
  it(`stores every acknowledged message exactly once across ${KILLS} kills`, async () => {
    expect(existsSync(CLI), `${CLI} missing: build with "npx tsc -p ." first`).toBe(true);
    dir = tempDir("edgespool-mqtt-crash-");
    broker = new Mosquitto(join(dir, "broker"));
    await broker.start();
    const cfg = {
      agentId: "mqtt-crash",
      dataDir: join(dir, "data"),
      sources: [
        {
          type: "mqtt",
          id: "upstream",
          url: broker.url,
          clientId: "edgespool-crash-test",
          topics: ["sensors/#"],
          topicTemplate: "sensors/{room}/{sensor}/temperature",
          sensor: "{room}/{sensor}",
          reconnect: { initialMs: 50, maxMs: 500 },
        },
      ],
      sinks: [{ type: "http", id: "nowhere", url: `http://127.0.0.1:${await freePort()}/`, timeoutMs: 500 }],
      http: { enabled: false },
      shutdownTimeoutMs: 1000,
    };
    agent = spawnAgent(dir, cfg);
    // The first subscription creates the persistent session; before it, the broker has nobody to
    // queue for and drops what it acknowledges, as MQTT specifies.
    await connected(agent);
    await new Promise((r) => setTimeout(r, 300));

    const sensors = ["k/t1", "k/t2", "h/t3"];
    const pub = new QosPublisher(broker.url, sensors, (s) => `sensors/${s}/temperature`, {
      maxInFlight: 8,
      pauseMs: 2,
    });
    pub.start();
    for (let k = 0; k < KILLS; k++) {
      // Mid-stream: connected and committing, at a random moment.
      await connected(agent);
      await new Promise((r) => setTimeout(r, 200 + Math.random() * 800));
      await killHard(agent);
      // Publishers carry on while the agent is down: Mosquitto queues for the persistent session.
      await new Promise((r) => setTimeout(r, 100 + Math.random() * 300));
      agent = spawnAgent(dir, cfg);
    }
    await connected(agent);
    await new Promise((r) => setTimeout(r, 500));
    await pub.stop();

    const expected = [...pub.acked].flatMap(([sensor, seqs]) =>
      [...seqs].map((n) => contentId({ sensor, temperature: QosPublisher.temperature(n), deviceSeq: n })!),
    );
    expect(expected.length).toBeGreaterThan(300);

    // Let the agent drain Mosquitto's queue for it (watching the spool read-only, as
    // `edgespool status` does), then stop it cleanly and read the spool.
    let last = -1;
    for (let stable = 0, until = Date.now() + 30_000; stable < 6 && Date.now() < until;) {
      await new Promise((r) => setTimeout(r, 250));
      const n = readSpoolStats(cfg.dataDir).records;
      stable = n === last ? stable + 1 : 0;
      last = n;
      if (n >= expected.length) break;
    }
    agent.child.kill("SIGTERM");
    await agent.exited;
    const { spool } = openTestSpool({ dir: cfg.dataDir });
    let ids: string[];
    try {
      ids = spool.read(0, 10_000_000).map((r) => (JSON.parse(r.body) as CanonicalRecord).id);
    } finally {
      spool.close();
    }
    const have = new Set(ids);
    const missing = expected.filter((id) => !have.has(id));
    expect(
      missing,
      `${missing.length} of ${expected.length} acknowledged messages missing (${agent.stderr()})`,
    ).toEqual([]);
    expect(ids.length, "a message stored twice").toBe(new Set(ids).size);
  }, 120_000);
});
