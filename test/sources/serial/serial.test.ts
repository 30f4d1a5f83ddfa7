import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type SerialSourceConfig, serialSourceSchema } from "../../../agent/sources/serial/config.js";
import { createSerialSource } from "../../../agent/sources/serial/index.js";
import type { Source } from "../../../agent/sources/source.js";
import { captureLog } from "../../helpers/capture-log.js";
import { RecordingIngest, recordingContext, waitFor } from "../../helpers/recording-ingest.js";
import { haveSocat, PtyPair } from "../../helpers/socat-pty.js";
import { SpoolIngest } from "../../helpers/spool-ingest.js";

describe.skipIf(!haveSocat)("serial source through a socat PTY pair", () => {
  let dir: string;
  let pty: PtyPair;
  let source: Source | undefined;
  let ingest: RecordingIngest;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "edgespool-serial-"));
    pty = new PtyPair(join(dir, "device"), join(dir, "sensor"));
    await pty.start();
    ingest = new RecordingIngest();
  });

  afterEach(async () => {
    await source?.stop();
    source = undefined;
    await pty.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  function config(extra: Record<string, unknown>): SerialSourceConfig {
    return serialSourceSchema.parse({
      type: "serial",
      id: "ser",
      path: pty.device,
      baudRate: 115200,
      reconnect: { initialMs: 50, maxMs: 200 },
      ...extra,
    });
  }

  async function startSource(extra: Record<string, unknown>, log = captureLog().log): Promise<Source> {
    source = createSerialSource(config(extra), recordingContext(ingest, log));
    await source.start();
    return source;
  }

  const temps = () => ingest.readings.map((r) => r.reading.temperature);

  it("reads JSON lines with LF and CRLF endings", async () => {
    await startSource({ format: "json" });
    await pty.write('{"sensor":"a","temperature":21.5,"seq":1}\n{"sensor":"b","temperature":22.5}\r\n');
    expect(await waitFor(() => ingest.readings.length === 2)).toBe(true);
    expect(ingest.readings.map((r) => r.reading)).toEqual([
      { sensor: "a", temperature: 21.5, deviceSeq: 1 },
      { sensor: "b", temperature: 22.5 },
    ]);
    expect(ingest.readings[0]!.source).toBe("ser");
  });

  it("reads CSV with a header row and CRLF", async () => {
    await startSource({ format: "csv", header: true });
    await pty.write("sensor,temperature,humidity\r\nk1,20.25,40\r\nk2,19.5,55\r\n");
    expect(await waitFor(() => ingest.readings.length === 2)).toBe(true);
    expect(ingest.readings.map((r) => r.reading)).toEqual([
      { sensor: "k1", temperature: 20.25, humidity: 40 },
      { sensor: "k2", temperature: 19.5, humidity: 55 },
    ]);
  });

  it("reads key=value lines with a fixed sensor", async () => {
    await startSource({ format: "kv", sensor: "hall" });
    await pty.write("T=23.4 H=41\nT=23.5 H=42\n");
    expect(await waitFor(() => ingest.readings.length === 2)).toBe(true);
    expect(ingest.readings.map((r) => r.reading)).toEqual([
      { sensor: "hall", temperature: 23.4, humidity: 41 },
      { sensor: "hall", temperature: 23.5, humidity: 42 },
    ]);
  });

  it("reads bare numbers, converting milli-degrees", async () => {
    await startSource({ format: "number", sensor: "probe", unit: "mC" });
    await pty.write("23125\r\n-1500\n");
    expect(await waitFor(() => ingest.readings.length === 2)).toBe(true);
    expect(temps()).toEqual([23.125, -1.5]);
  });

  it("can drop the first line after an open, which may be the tail of an earlier line", async () => {
    await startSource({ format: "number", sensor: "p", dropFirstLine: true });
    await pty.write("3.4\n21.5\n22\n");
    expect(await waitFor(() => ingest.readings.length === 2)).toBe(true);
    expect(temps()).toEqual([21.5, 22]);
  });

  it("rejects an over-long line as too-large and resynchronises at the next newline", async () => {
    await startSource({ format: "number", sensor: "p", maxLineBytes: 64 });
    // The 64-byte line (plus CR) is within the limit: it reaches the parser, which refuses "xxx…".
    await pty.write(`1\n${"9".repeat(5000)}\n2\n${"x".repeat(64)}\r\n3\n`);
    expect(await waitFor(() => ingest.readings.length === 3)).toBe(true);
    expect(temps()).toEqual([1, 2, 3]);
    expect(ingest.rejectCount("too-large")).toBe(1);
    expect(ingest.rejects.filter((r) => r.reason !== "too-large").map((r) => r.reason)).toEqual([
      "wrong-type",
    ]);
  });

  it("keeps every valid line among 1 MB of random bytes", async () => {
    await startSource({ format: "json", maxLineBytes: 4096 });
    const parts: Buffer[] = [];
    const expected: number[] = [];
    let garbage = 0;
    for (let seq = 0; garbage < 1024 * 1024; seq++) {
      const junk = randomBytes(1 + Math.floor(Math.random() * 6000));
      // Half the runs have no newline at all, so some exceed maxLineBytes.
      if (seq % 2 === 0) for (let i = 0; i < junk.length; i++) if (junk[i] === 0x0a) junk[i] = 0;
      garbage += junk.length;
      parts.push(junk, Buffer.from(`\n{"sensor":"g","temperature":${(seq % 50) + 0.5},"seq":${seq}}\n`));
      expected.push(seq);
    }
    await pty.write(Buffer.concat(parts));
    expect(await waitFor(() => ingest.readings.length >= expected.length, 30_000)).toBe(true);
    const seqs = ingest.readings.filter((r) => r.reading.sensor === "g").map((r) => r.reading.deviceSeq);
    expect(seqs).toEqual(expected);
    expect(ingest.rejectCount("too-large")).toBeGreaterThan(0);
    expect(ingest.rejects.length).toBeGreaterThan(expected.length / 2);
  });

  it("reopens after the device is unplugged and replugged, logging once per state change", async () => {
    const cap = captureLog();
    await startSource({ format: "json" }, cap.log);
    await pty.write('{"sensor":"u","temperature":20,"seq":1}\n{"sensor":"u","temp');
    expect(await waitFor(() => ingest.readings.length === 1)).toBe(true);

    await pty.kill();
    expect(await waitFor(() => cap.count("serial port lost; reopening with backoff") === 1)).toBe(true);
    // Stay unplugged for several backoff periods: one warning for the whole outage.
    await new Promise((r) => setTimeout(r, 700));
    await pty.start();
    expect(await waitFor(() => cap.count("serial port reopened") === 1)).toBe(true);

    await pty.write('{"sensor":"u","temperature":21,"seq":2}\n');
    expect(await waitFor(() => ingest.readings.length === 2)).toBe(true);
    expect(ingest.readings.map((r) => r.reading.deviceSeq)).toEqual([1, 2]);
    expect(cap.count("serial port lost; reopening with backoff")).toBe(1);
    // Failed reopens during the outage are the same state: debug lines, not warnings.
    expect(cap.count("serial port unavailable; retrying with backoff")).toBe(0);
    expect(cap.count("serial port still unavailable")).toBeGreaterThan(1);
    // The half line cut off by the unplug never became a reading or a crash.
    expect(ingest.rejects).toEqual([]);
  });

  it("starts while the device is absent and opens it when it appears", async () => {
    await pty.kill();
    const cap = captureLog();
    await startSource({ format: "number", sensor: "late" }, cap.log);
    expect(cap.count("serial port unavailable; retrying with backoff")).toBe(1);
    // No udev here: the port list fails, and the warning says so instead of throwing.
    const warn = cap.lines.find((l) => l.msg === "serial port unavailable; retrying with backoff");
    expect(warn?.availablePorts).toBeDefined();
    await pty.start();
    expect(await waitFor(() => cap.count("serial port reopened") === 1)).toBe(true);
    await pty.write("18.5\n");
    expect(await waitFor(() => ingest.readings.length === 1)).toBe(true);
    expect(temps()).toEqual([18.5]);
  });

  it("stores a line repeated after a reconnect once, in the real spool", async () => {
    const cap = captureLog();
    const store = new SpoolIngest(cap.log);
    try {
      source = createSerialSource(config({ format: "json" }), store.context());
      await source.start();
      const line = '{"sensor":"d","temperature":21.25,"seq":41}\n';
      await pty.write(line);
      expect(await waitFor(() => store.records().length === 1)).toBe(true);
      await pty.kill();
      await pty.start();
      // The device resends its last line after the replug, then carries on.
      expect(await waitFor(() => cap.count("serial port reopened") === 1)).toBe(true);
      await pty.write(`${line}{"sensor":"d","temperature":21.5,"seq":42}\n`);
      expect(await waitFor(() => store.records().length === 2)).toBe(true);
      await source.stop();
      source = undefined;
      expect(store.records().map((r) => r.temperature)).toEqual([21.25, 21.5]);
      expect((await store.telemetry.duplicates.get()).values[0]?.value).toBe(1);
    } finally {
      await source?.stop();
      source = undefined;
      await store.close();
    }
  });
});
