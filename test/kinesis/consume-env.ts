import { rmSync } from "node:fs";
import { afterAll, afterEach, beforeAll, beforeEach } from "vitest";
import type { OutRecord } from "../../agent/record/record.js";
import { CREDS, type Kinesalite, putAll, startKinesalite, tempDir } from "./helpers.js";

/**
 * What the `edgespool consume` test files share: one kinesalite per file and a fresh directory
 * per test (for the consumer's --db), both removed afterwards. Call once at the top of a test
 * file; read `k` and `dir` inside tests (they are set by the hooks this registers).
 */
export function consumeEnv() {
  const env = {
    k: undefined as unknown as Kinesalite,
    dir: "",
    /** Puts records on `stream` through a real Kinesis sink (aggregated unless `extra` says not). */
    put: (stream: string, records: readonly OutRecord[], extra: Record<string, unknown> = {}) =>
      putAll(env.k.endpoint, stream, records, extra),
    /** The options every consumeStream call here starts from: this kinesalite, `db` as --db. */
    opts: (stream: string, db: string) => ({
      stream,
      endpoint: env.k.endpoint,
      region: "us-east-1",
      ...CREDS,
      db,
    }),
  };
  beforeAll(async () => {
    env.k = await startKinesalite();
  });
  afterAll(async () => {
    await env.k?.close();
  });
  beforeEach(() => {
    env.dir = tempDir();
  });
  afterEach(() => {
    rmSync(env.dir, { recursive: true, force: true });
  });
  return env;
}
