import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import { fileSinkSchema } from "../../agent/sinks/file/config.js";
import { createFileSink } from "../../agent/sinks/file/index.js";
import { readNdjsonDir } from "../../agent/sinks/file/read.js";
import { type Sink, SinkError } from "../../agent/sinks/sink.js";
import { expectAccepted, records, sinkConformance, testContext } from "./conformance.js";
import { faultyFs } from "./file-helpers.js";
import { tempDir as baseTempDir } from "../helpers/basics.js";

const signal = new AbortController().signal;
const dirs: string[] = [];
const sinks: Sink[] = [];

function tempDir(): string {
  const d = baseTempDir("edgespool-file-");
  dirs.push(d);
  return d;
}

function make(
  dir: string,
  extra: Record<string, unknown> = {},
  opt: Parameters<typeof createFileSink>[2] = {},
) {
  const cfg = fileSinkSchema.parse({ type: "file", id: "out", dir, ...extra });
  const s = createFileSink(cfg, testContext(), opt);
  sinks.push(s);
  return s;
}

afterEach(async () => {
  for (const s of sinks.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

for (const gzip of [false, true]) {
  sinkConformance(gzip ? "file (gzip)" : "file", async () => {
    const dir = tempDir();
    const { ops, st } = faultyFs();
    return {
      make: () => make(dir, { gzip }, { ops }),
      received: () => readNdjsonDir(dir),
      outage: {
        begin: async () => {
          st.fail = "ENOSPC";
        },
        end: async () => {
          st.fail = undefined;
        },
      },
      teardown: async () => {},
    };
  });
}

describe("file sink", () => {
  it("rolls by size; names sort in write order", async () => {
    const dir = tempDir();
    const sink = make(dir, { maxFileBytes: 2000 });
    await sink.start();
    const all = records(40);
    for (let i = 0; i < all.length; i += 4) expectAccepted(await sink.write(all.slice(i, i + 4), signal));
    await sink.close();
    const files = readdirSync(dir).sort();
    expect(files.length).toBeGreaterThan(3);
    for (const f of files) {
      expect(f).toMatch(/^out-\d{8}T\d{9}Z-\d{6}\.ndjson$/);
      // A batch never straddles files; a file exceeds the limit only by holding one batch.
      expect(statSync(join(dir, f)).size).toBeLessThanOrEqual(2000);
    }
    expect(readNdjsonDir(dir)).toEqual(all.map((r) => r.body));
  });

  it("rolls by age, also when idle, and gzips rolled files into complete members", async () => {
    const dir = tempDir();
    let now = Date.UTC(2026, 10, 22, 1, 0, 0);
    const sink = make(dir, { maxFileAgeMs: 40, gzip: true }, { now: () => now });
    await sink.start();
    const a = records(3);
    expectAccepted(await sink.write(a, signal));
    expect(readdirSync(dir)).toEqual([expect.stringMatching(/\.ndjson$/)]);
    now += 1000; // the idle timer sees the file is old and rolls it
    for (let i = 0; i < 100 && !readdirSync(dir).some((f) => f.endsWith(".gz")); i++)
      await new Promise((r) => setTimeout(r, 20));
    const gz = readdirSync(dir).filter((f) => f.endsWith(".ndjson.gz"));
    expect(gz).toHaveLength(1);
    expect(gunzipSync(readFileSync(join(dir, gz[0]!))).toString()).toBe(a.map((r) => `${r.body}\n`).join(""));
    const b = records(2);
    expectAccepted(await sink.write(b, signal));
    await sink.close();
    expect(readdirSync(dir).every((f) => f.endsWith(".ndjson.gz"))).toBe(true);
    expect(readNdjsonDir(dir)).toEqual([...a, ...b].map((r) => r.body));
  });

  it("acknowledges only after fdatasync of the written bytes", async () => {
    const dir = tempDir();
    const { ops, st } = faultyFs();
    const sink = make(dir, {}, { ops });
    await sink.start();
    st.events.length = 0;
    expectAccepted(await sink.write(records(2), signal));
    // Creating the file also syncs the folder, so the new entry survives a power loss.
    expect(st.events).toEqual(["sync", "write", "datasync"]);
    st.events.length = 0;
    expectAccepted(await sink.write(records(2), signal));
    expect(st.events).toEqual(["write", "datasync"]);
    // A failing fdatasync is a failed write, never an acknowledgement.
    st.fail = "EIO";
    st.only = "datasync";
    const c = records(1);
    await expect(sink.write(c, signal)).rejects.toMatchObject({ code: "FILE_EIO", retryable: true });
    st.fail = undefined;
    expectAccepted(await sink.write(c, signal));
    // The unacknowledged copy was cut off before the retry wrote it again.
    expect(readNdjsonDir(dir).filter((l) => l === c[0]!.body)).toHaveLength(1);
  });

  it("disk full mid-write: retryable FILE_ENOSPC, torn bytes cut off, recovers", async () => {
    const dir = tempDir();
    const { ops, st } = faultyFs();
    const sink = make(dir, {}, { ops });
    await sink.start();
    const a = records(2);
    expectAccepted(await sink.write(a, signal));
    st.fail = "ENOSPC";
    st.tearWrites = true;
    const b = records(5);
    const err = await sink.write(b, signal).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SinkError);
    expect(err).toMatchObject({ code: "FILE_ENOSPC", retryable: true });
    expect((err as Error).message).toMatch(/no space left/);
    st.fail = undefined;
    expectAccepted(await sink.write(b, signal));
    expect(readNdjsonDir(dir)).toEqual([...a, ...b].map((r) => r.body));
    expect(readFileSync(join(dir, readdirSync(dir)[0]!), "utf8")).toBe(
      [...a, ...b].map((r) => `${r.body}\n`).join(""),
    );
  });

  it("unwritable folder: retryable FILE_EACCES until it is writable again", async () => {
    const dir = join(tempDir(), "out");
    const { ops, st } = faultyFs();
    const sink = make(dir, {}, { ops });
    await sink.start();
    st.fail = "EACCES";
    await expect(sink.write(records(1), signal)).rejects.toMatchObject({
      code: "FILE_EACCES",
      retryable: true,
    });
    st.fail = undefined;
    const r = records(1);
    expectAccepted(await sink.write(r, signal));
    expect(readNdjsonDir(dir)).toEqual([r[0]!.body]);
  });

  it("a folder path taken by a file is retryable and recovers once removed (real file system)", async () => {
    const dir = join(tempDir(), "out");
    writeFileSync(dir, "not a folder");
    const sink = make(dir);
    await sink.start();
    const err = await sink.write(records(1), signal).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SinkError);
    expect((err as SinkError).retryable).toBe(true);
    rmSync(dir);
    const r = records(2);
    expectAccepted(await sink.write(r, signal));
    expect(readNdjsonDir(dir)).toEqual(r.map((x) => x.body));
  });

  it("after a crash: cuts a torn last line and gzips leftovers at start", async () => {
    const dir = tempDir();
    const a = records(3);
    const crashed = createFileSink(
      fileSinkSchema.parse({ type: "file", id: "out", dir, gzip: true }),
      testContext(),
    );
    await crashed.start();
    expectAccepted(await crashed.write(a, signal));
    // kill -9: no close; the in-progress file is plain NDJSON, readable as is.
    expect(readNdjsonDir(dir)).toEqual(a.map((r) => r.body));
    const [name] = readdirSync(dir);
    writeFileSync(join(dir, name!), '{"id":"torn', { flag: "a" });
    writeFileSync(join(dir, `${name}.gz.tmp`), "half");
    const sink = make(dir, { gzip: true });
    await sink.start();
    expect(readdirSync(dir)).toEqual([`${name}.gz`]);
    const b = records(1);
    expectAccepted(await sink.write(b, signal));
    await sink.close();
    expect(readNdjsonDir(dir)).toEqual([...a, ...b].map((r) => r.body));
  });

  it("rejects bad config with paths", () => {
    const r = fileSinkSchema.safeParse({ type: "file", id: "out", dir: "", maxFileBytes: "lots", extra: 1 });
    expect(r.success).toBe(false);
    const paths = r.error!.issues.map((i) => i.path.join("."));
    expect(paths).toEqual(expect.arrayContaining(["dir", "maxFileBytes"]));
  });
});
