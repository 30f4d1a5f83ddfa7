import * as fsp from "node:fs/promises";
import type { FileOps } from "../../agent/sinks/file/rolling.js";

/**
 * The real node:fs/promises behind a switch that makes file operations fail with an errno code
 * (ENOSPC, EACCES): tests run as root, where chmod cannot make a folder unwritable.
 */
export function faultyFs() {
  const st = {
    fail: undefined as string | undefined,
    /** Write half of the buffer before failing, like a disk filling up mid-write. */
    tearWrites: false,
    /** When set, only this handle operation fails (e.g. "datasync"). */
    only: undefined as string | undefined,
    events: [] as string[],
  };
  const err = (op: string) => Object.assign(new Error(`${st.fail}: injected on ${op}`), { code: st.fail });
  const handle = (fh: fsp.FileHandle): fsp.FileHandle =>
    new Proxy(fh, {
      get(target, prop) {
        const v = Reflect.get(target, prop) as unknown;
        if (typeof v !== "function") return v;
        return async (...args: unknown[]) => {
          const op = String(prop);
          if (op === "write" || op === "datasync" || op === "sync" || op === "truncate") st.events.push(op);
          if (st.fail && op === "write" && st.tearWrites) {
            const [buf, off, len, pos] = args as [Buffer, number, number, number];
            await target.write(buf, off, Math.floor(len / 2), pos);
            throw err(op);
          }
          if (st.fail && (st.only ? op === st.only : ["write", "datasync", "sync", "truncate"].includes(op)))
            throw err(op);
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
  const guard =
    <A extends unknown[], R>(op: string, fn: (...a: A) => Promise<R>) =>
    async (...a: A): Promise<R> => {
      if (st.fail && !st.only) throw err(op);
      return fn(...a);
    };
  const ops = {
    mkdir: guard("mkdir", fsp.mkdir as (...a: unknown[]) => Promise<unknown>),
    open: guard("open", async (...a: unknown[]) =>
      handle(await (fsp.open as (...x: unknown[]) => Promise<fsp.FileHandle>)(...a)),
    ),
    readdir: fsp.readdir,
    rename: guard("rename", fsp.rename),
    unlink: guard("unlink", fsp.unlink),
    stat: fsp.stat,
  } as unknown as FileOps;
  return { ops, st };
}
