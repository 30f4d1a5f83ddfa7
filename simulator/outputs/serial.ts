import { SerialPort } from "serialport";
import { type MessageEvent, type Output, toBuffer } from "./output.js";

export interface SerialOutputOptions {
  path: string;
  baudRate: number;
  /** How long the port stays closed in a reconnect storm (a USB unplug). */
  reopenMs: number;
}

/** Lines to a serial port (or a PTY standing in for one). A storm closes and reopens the port. */
export function createSerialOutput(opts: SerialOutputOptions): Output {
  const port = new SerialPort({ path: opts.path, baudRate: opts.baudRate, autoOpen: false });
  let sent = 0;
  let errors = 0;
  let pending: Buffer[] | undefined;
  port.on("error", () => errors++);

  const open = () =>
    new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
  const close = () => new Promise<void>((resolve) => (port.isOpen ? port.close(() => resolve()) : resolve()));
  const line = (msg: MessageEvent) => Buffer.concat([toBuffer(msg.payload), Buffer.from("\n")]);

  return {
    kind: "serial",
    open,
    send(msg) {
      sent++;
      if (pending) {
        pending.push(line(msg));
        return pending.length < 10_000;
      }
      return port.write(line(msg));
    },
    async drain() {
      if (pending) await new Promise((r) => setTimeout(r, opts.reopenMs));
      else await new Promise<void>((resolve) => port.drain(() => resolve()));
    },
    storm() {
      if (pending) return;
      pending = [];
      void close()
        .then(() => new Promise((r) => setTimeout(r, opts.reopenMs)))
        .then(open)
        .then(() => {
          const queued = pending ?? [];
          pending = undefined;
          for (const b of queued) port.write(b);
        })
        .catch(() => {
          errors++;
          pending = undefined;
        });
    },
    async close() {
      while (pending) await new Promise((r) => setTimeout(r, 20));
      if (port.isOpen) await new Promise<void>((resolve) => port.drain(() => resolve()));
      await close();
    },
    stats: () => ({ sent, errors }),
  };
}
