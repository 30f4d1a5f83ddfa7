import * as fsp from "node:fs/promises";
import { resolve } from "node:path";
import type { OutRecord } from "../../record/record.js";
import { type Sink, type SinkContext, SinkError, type WriteResult } from "../sink.js";
import { gzipFile, recoverDir } from "./compress.js";
import type { FileSinkConfig } from "./config.js";
import { fileError } from "./errors.js";
import { type FileOps, RollingFile } from "./rolling.js";

export { readNdjsonDir } from "./read.js";

export interface FileSinkOptions {
  /** File operations, for tests that inject ENOSPC/EACCES in front of the real file system. */
  ops?: FileOps;
  now?: () => number;
}

/**
 * Rolling NDJSON files, the local stand-in for Firehose → S3. A batch is
 * acknowledged only once written and fdatasync'd; any file-system failure is a retryable
 * SinkError (`FILE_ENOSPC`, `FILE_EACCES`, …) so the spool keeps the records until it clears.
 */
export function createFileSink(cfg: FileSinkConfig, ctx: SinkContext, opt: FileSinkOptions = {}): Sink {
  const ops = opt.ops ?? fsp;
  const dir = resolve(cfg.dir);
  let compressing: Promise<void> = Promise.resolve();
  const compress = (path: string) => {
    compressing = compressing.then(() =>
      gzipFile(ops, path).then(
        () => undefined,
        // Left as plain NDJSON (still readable); compressed again at the next start.
        (err: unknown) =>
          ctx.log.warn({ err, sink: cfg.id, path }, "file sink: gzip of a rolled file failed"),
      ),
    );
  };
  const file = new RollingFile({
    dir,
    prefix: cfg.id,
    maxFileBytes: cfg.maxFileBytes,
    maxFileAgeMs: cfg.maxFileAgeMs,
    now: opt.now ?? Date.now,
    ops,
    onRolled: (path) => {
      if (cfg.gzip) compress(path);
    },
  });
  // One file operation at a time: the idle age check must not roll a file under a write.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const p = queue.then(fn);
    queue = p.catch(() => {});
    return p;
  };
  let timer: NodeJS.Timeout | undefined;
  let closed: Promise<void> | undefined;

  return {
    id: cfg.id,
    type: "file",
    async start() {
      if (timer) return;
      try {
        await recoverDir(ops, dir, cfg.id, cfg.gzip);
      } catch (err) {
        throw fileError(err, "recover files in", dir);
      }
      const every = Math.max(10, Math.min(cfg.maxFileAgeMs / 4, 60_000));
      timer = setInterval(() => {
        serial(() => file.rollIfOld()).catch((err: unknown) =>
          ctx.log.warn({ err, sink: cfg.id }, "file sink: roll failed"),
        );
      }, every);
      timer.unref();
    },
    write(batch: readonly OutRecord[]): Promise<WriteResult> {
      if (closed) return Promise.reject(new SinkError("file sink: closed", "CLOSED", true));
      if (batch.length === 0) return Promise.resolve({});
      const buf = Buffer.from(batch.map((r) => `${r.body}\n`).join(""), "utf8");
      return serial(async () => {
        await file.append(buf);
        return {};
      });
    },
    close() {
      closed ??= (async () => {
        clearInterval(timer);
        await serial(() => file.roll()).catch((err: unknown) =>
          ctx.log.warn({ err, sink: cfg.id }, "file sink: closing the current file failed"),
        );
        await compressing;
      })();
      return closed;
    },
  };
}
