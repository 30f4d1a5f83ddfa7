import { createParser } from "../../parse/index.js";
import { Reconnect } from "../../reconnect.js";
import type { Reading } from "../../record/record.js";
import type { Source, SourceContext } from "../source.js";
import type { SerialSourceConfig } from "./config.js";
import { LineSplitter } from "./lines.js";
import { listPorts, openSerialPort, type PortError, type PortHandle, type PortOpener } from "./port.js";

export interface SerialDeps {
  open?: PortOpener;
  list?: typeof listPorts;
}

/** Submissions awaiting commit before the port is paused: bounds memory when the spool blocks. */
const MAX_IN_FLIGHT = 16;

/**
 * Reads lines from a serial port and hands parsed readings to ingest. The device may vanish at
 * any time (USB unplug, EIO); the source then reopens the same path with capped, jittered
 * backoff and logs only when its state changes, so a missing device is one line, not thousands.
 */
export function createSerialSource(
  cfg: SerialSourceConfig,
  ctx: SourceContext,
  deps: SerialDeps = {},
): Source {
  const open = deps.open ?? openSerialPort;
  const list = deps.list ?? listPorts;
  const log = ctx.log.child({ path: cfg.path });
  const parser = createParser(cfg);
  const inFlight = new Set<Promise<unknown>>();
  let stopped = false;
  let port: PortHandle | undefined;
  let skipLine = false;
  let batch: Reading[] = [];

  const splitter = new LineSplitter(cfg.maxLineBytes, {
    line(bytes) {
      if (skipLine) {
        skipLine = false;
        return;
      }
      const res = parser.parse(bytes);
      if (res.ok) for (const r of res.readings) batch.push(r);
      else ctx.ingest.reject(cfg.id, res.reason, res.detail);
    },
    tooLarge(n) {
      skipLine = false;
      ctx.ingest.reject(cfg.id, "too-large", `line of ${n} bytes exceeds maxLineBytes ${cfg.maxLineBytes}`);
    },
  });

  function onData(chunk: Buffer): void {
    splitter.push(chunk);
    if (batch.length === 0) return;
    const readings = batch;
    batch = [];
    const p = ctx.ingest.submit(cfg.id, readings).then(
      () => undefined,
      (err: unknown) =>
        ctx.telemetry.warnLimited(
          `serial:${cfg.id}:submit`,
          { source: cfg.id, err: String(err) },
          "ingest failed",
        ),
    );
    inFlight.add(p);
    if (inFlight.size >= MAX_IN_FLIGHT) port?.pause();
    void p.finally(() => {
      inFlight.delete(p);
      if (inFlight.size < MAX_IN_FLIGHT / 2) port?.resume();
    });
  }

  const reconnect = new Reconnect({
    kind: "source",
    id: cfg.id,
    backoff: cfg.reconnect,
    log,
    telemetry: ctx.telemetry,
    messages: {
      connected: "serial port open",
      reconnected: "serial port reopened",
      lost: "serial port lost; reopening with backoff",
      unreachable: "serial port unavailable; retrying with backoff",
      stillDown: "serial port still unavailable",
    },
    retry: () => void connect(),
  });

  async function failed(err: unknown): Promise<void> {
    const e = err as PortError;
    const fields: Record<string, unknown> = { code: e.code };
    // Only on the first failure of an outage: the warning that names the ports there are.
    if (!reconnect.isDown && (e.code === "ENOENT" || /no such file/i.test(e.message))) {
      const ports = await list();
      fields.availablePorts = "ports" in ports ? ports.ports : `unknown (${ports.error})`;
    }
    reconnect.down(err, fields);
  }

  function onClosed(err: PortError | null): void {
    port = undefined;
    splitter.reset();
    batch = [];
    if (stopped) return;
    reconnect.down(err ?? "port closed", { disconnected: err?.disconnected === true });
  }

  async function connect(): Promise<void> {
    if (stopped) return;
    let p: PortHandle;
    try {
      p = await open({ path: cfg.path, baudRate: cfg.baudRate });
    } catch (err) {
      await failed(err);
      return;
    }
    if (stopped) {
      await p.close();
      return;
    }
    port = p;
    splitter.reset();
    parser.reset?.();
    skipLine = cfg.dropFirstLine;
    p.onData(onData);
    p.onClosed(onClosed);
    reconnect.up({ baudRate: cfg.baudRate });
  }

  return {
    id: cfg.id,
    type: "serial",
    async start() {
      await connect();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      reconnect.stop();
      const p = port;
      port = undefined;
      await p?.close();
      await Promise.allSettled([...inFlight]);
    },
  };
}
