import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { nodeSupportNotice } from "../../agent/cli/node-support.js";
import { freePort, killHard, spawnAgent, tempDir, waitForPort } from "../helpers/agent-process.js";
import { waitFor } from "../helpers/recording-ingest.js";

const run = promisify(execFile);

// Makes the child believe it runs on Node 20 whatever the Node running the suite is, so the AWS
// SDK's check and ours see the same version on every Node CI uses.
const AS_NODE_20 = `--import=data:text/javascript,Object.defineProperty(process,"version",{value:"v20.20.2"})`;
const SDK_WARNING = "NodeVersionSupportWarning";

describe("Node.js support notice", () => {
  it("names Node 20 as past end of life, is quiet on 22 and 24, flags untested majors", () => {
    expect(nodeSupportNotice("v20.20.2")).toMatch(
      /^Node.js v20.20.2 reached end of life on 2026-04-30.*Node.js 24/,
    );
    expect(nodeSupportNotice("v22.13.0")).toBeUndefined();
    expect(nodeSupportNotice("v24.22.3")).toBeUndefined();
    expect(nodeSupportNotice("v26.1.0")).toMatch(/not one edgespool is tested on \(20, 22, 24\)/);
    expect(nodeSupportNotice("v18.20.0")).toMatch(/not one edgespool is tested on/);
  });

  it("the AWS SDK does print its warning on Node 20 when left alone (so the next test means something)", async () => {
    const { stderr } = await run(
      process.execPath,
      [
        AS_NODE_20,
        "-e",
        `const { KinesisClient } = require("@aws-sdk/client-kinesis"); new KinesisClient({ region: "us-east-1" });`,
      ],
      { env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: undefined } },
    );
    expect(stderr).toContain(SDK_WARNING);
  });

  it("edgespool run with a Kinesis sink on Node 20 logs one line of its own and no SDK warning", async () => {
    const dir = tempDir();
    const port = await freePort();
    const config = {
      agentId: "node-support",
      dataDir: dir,
      sinks: [
        {
          type: "kinesis",
          id: "kinesis",
          stream: "s",
          region: "us-east-1",
          endpoint: `http://127.0.0.1:${await freePort()}`,
          accessKeyId: "local",
          secretAccessKey: "local",
        },
      ],
      http: { host: "127.0.0.1", port },
    };
    const agent = spawnAgent(dir, config, { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: undefined }, [
      AS_NODE_20,
    ]);
    try {
      await waitForPort(port);
      // By "edgespool running" the Kinesis client exists, so the SDK would have warned by now.
      expect(await waitFor(() => agent.stderr().includes('"msg":"edgespool running"'), 30_000)).toBe(true);
    } finally {
      await killHard(agent);
    }
    expect(agent.stderr()).not.toContain(SDK_WARNING);
    // The JSON log goes to stderr.
    const notices = agent
      .stderr()
      .split("\n")
      .filter((l) => l.includes("reached end of life"));
    expect(notices).toHaveLength(1);
    expect(JSON.parse(notices[0]!)).toMatchObject({ level: 40, node: "v20.20.2" });
  });
});
