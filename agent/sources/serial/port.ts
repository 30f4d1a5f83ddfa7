/**
 * The narrow face of serialport this source uses, so tests can put a fault-injecting wrapper in
 * front of a real port and `edgespool check` never loads the native binding.
 */
export interface PortHandle {
  /** Chunks as they arrive. */
  onData(cb: (chunk: Buffer) => void): void;
  /** Fires once: `null` after our own close, else the error (`disconnected` when the device went away). */
  onClosed(cb: (err: PortError | null) => void): void;
  pause(): void;
  resume(): void;
  close(): Promise<void>;
}

export interface PortError extends Error {
  code?: string;
  disconnected?: boolean;
}

export interface PortOptions {
  path: string;
  baudRate: number;
}

export type PortOpener = (opts: PortOptions) => Promise<PortHandle>;

export const openSerialPort: PortOpener = async (opts) => {
  const { SerialPort } = await import("serialport");
  const port = new SerialPort({ path: opts.path, baudRate: opts.baudRate, autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
  const closedListeners: ((err: PortError | null) => void)[] = [];
  let closed = false;
  const fireClosed = (err: PortError | null) => {
    if (closed) return;
    closed = true;
    for (const cb of closedListeners) cb(err);
  };
  port.on("close", (err: PortError | null) => fireClosed(err ?? null));
  // A read error on an unplugged device arrives as 'error' before (or instead of) 'close'.
  port.on("error", (err: PortError) => {
    fireClosed(err);
    if (port.isOpen) port.close(() => {});
  });
  return {
    onData: (cb) => port.on("data", cb),
    onClosed: (cb) => closedListeners.push(cb),
    pause: () => port.pause(),
    resume: () => port.resume(),
    close: () =>
      new Promise<void>((resolve) => {
        closed = true;
        if (!port.isOpen) return resolve();
        port.close(() => resolve());
      }),
  };
};

/** Port paths the system reports, or the reason it cannot (no udev in containers and some VMs). */
export async function listPorts(): Promise<{ ports: string[] } | { error: string }> {
  try {
    const { SerialPort } = await import("serialport");
    const list = await SerialPort.list();
    return { ports: list.map((p) => p.path) };
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) };
  }
}
