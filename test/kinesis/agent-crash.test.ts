import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import mqtt from "mqtt";
import { afterEach, describe, expect, it } from "vitest";
import { consumeStream } from "../../agent/consume/consumer.js";
import { contentId } from "../../agent/record/ids.js";
import {
  type AgentProcess,
  CLI,
  freePort,
  killHard,
  spawnAgent,
  waitForPort,
} from "../helpers/agent-process.js";
import { roomsToKinesisConfig } from "./agent-config.js";
import {
  clientWithStream,
  consumedRows,
  CREDS,
  type Kinesalite,
  orderViolations,
  startKinesalite,
  tempDir,
} from "./helpers.js";

/**
 * The whole agent (`edgespool run`, compiled) shipping QoS1 MQTT readings to kinesalite, killed
 * with SIGKILL mid-shipping and restarted: every reading whose PUBACK a client saw reaches the
 * stream, resends carry the same ids, and `consume` stores each id once, in per-sensor order.
 */

const KILLS = process.env.EDGESPOOL_SOAK ? 12 : 3;
const CLIENTS = 3;

let agent: AgentProcess | undefined;
let k: Kinesalite | undefined;
let dir: string | undefined;
afterEach(async () => {
  if (agent) await killHard(agent);
  await k?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!existsSync(CLI))("kinesis: agent killed mid-shipping", () => {
  it(`loses nothing and stores each id once across ${KILLS} SIGKILLs`, async () => {
    k = await startKinesalite();
    dir = tempDir();
    const c = await clientWithStream(k.endpoint, "crash", 2);
    const port = await freePort();
    const cfg = roomsToKinesisConfig({
      agentId: "kinesis-crash",
      dataDir: join(dir, "data"),
      port,
      stream: "crash",
      endpoint: k.endpoint,
      sink: { maxBatchRecords: 300 },
    });
    agent = spawnAgent(dir, cfg);
    await waitForPort(port);

    const acked = new Set<string>();
    let publishing = true;
    const clients = Array.from({ length: CLIENTS }, (_, i) =>
      mqtt.connect(`mqtt://127.0.0.1:${port}`, {
        clientId: `kc-${i}`,
        reconnectPeriod: 100,
        connectTimeout: 2000,
      }),
    );
    const loops = clients.map(async (mc, i) => {
      const sensor = `room${i}/t${i}`;
      let inflight = 0;
      for (let seq = 0; publishing;) {
        if (inflight >= 32 || !mc.connected) {
          await new Promise((r) => setTimeout(r, 5));
          continue;
        }
        const n = seq++;
        const temperature = 20 + (n % 50) / 10;
        const id = contentId({ sensor, temperature, deviceSeq: n })!;
        inflight++;
        mc.publish(
          `sensors/room${i}/t${i}/temperature`,
          JSON.stringify({ temperature, seq: n }),
          { qos: 1 },
          (err) => {
            inflight--;
            if (!err) acked.add(id);
          },
        );
        await new Promise((r) => setImmediate(r));
      }
    });

    for (let n = 0; n < KILLS; n++) {
      await new Promise((r) => setTimeout(r, 400 + Math.random() * 800));
      await killHard(agent);
      agent = spawnAgent(dir, cfg);
      await waitForPort(port);
    }
    await new Promise((r) => setTimeout(r, 500));
    publishing = false;
    await Promise.all(loops);
    await Promise.all(clients.map((mc) => mc.endAsync(true)));
    expect(acked.size).toBeGreaterThan(100);

    const db = join(dir, "consumer.db");
    let missing = [...acked];
    const until = Date.now() + 20_000;
    while (missing.length > 0 && Date.now() < until) {
      await consumeStream({ stream: "crash", endpoint: k.endpoint, region: "us-east-1", ...CREDS, db });
      const ids = new Set(consumedRows(db).map((r) => r.id));
      missing = missing.filter((id) => !ids.has(id));
      if (missing.length > 0) await new Promise((r) => setTimeout(r, 250));
    }
    expect(missing, `${missing.length} of ${acked.size} acknowledged readings missing`).toEqual([]);
    const rows = consumedRows(db);
    expect(new Set(rows.map((r) => r.id)).size).toBe(rows.length);
    expect(orderViolations(rows)).toEqual([]);
    c.destroy();
  }, 120_000);
});
