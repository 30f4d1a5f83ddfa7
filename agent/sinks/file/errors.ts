import { SinkError } from "../sink.js";

/** Conditions an operator can fix (disk full, permissions, missing mount) are retried, never dropped. */
const KNOWN: Record<string, string> = {
  ENOSPC: "no space left on the device",
  EDQUOT: "disk quota exceeded",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EROFS: "read-only file system",
  ENOENT: "folder missing",
  ENOTDIR: "a path component is not a folder",
  EIO: "I/O error",
  EMFILE: "too many open files",
};

export function fileError(err: unknown, what: string, path: string): SinkError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? "EUNKNOWN";
  const why = KNOWN[code] ?? (err instanceof Error ? err.message : String(err));
  return new SinkError(`file sink: cannot ${what} ${path}: ${why}`, `FILE_${code}`, true, undefined, {
    cause: err,
  });
}
