import { spawnSync } from "node:child_process";
import { closeSync, mkdirSync, openSync, readdirSync, rmdirSync, writeSync } from "node:fs";
import { join } from "node:path";
import { haveTool } from "./tools.js";

/**
 * Small file systems and unwritable folders for the disk tests. Tests run as root, where chmod
 * does not stop writes (root bypasses permission bits), so:
 * - a full disk is a tmpfs with a size limit (`mount -t tmpfs -o size=…`), which needs
 *   CAP_SYS_ADMIN: `canMount()` says whether this machine allows it, and tests skip otherwise;
 * - an unwritable folder is `chattr +i` on the folder and its files: the immutable flag binds root
 *   too, and since Linux 5.4 it also fails writes through descriptors opened before (EPERM), which
 *   is what a sink holding its current file open must meet. A read-only bind mount would be
 *   refused (EBUSY) while the sink holds a file open for writing.
 */

let mountable: boolean | undefined;

export function canMount(): boolean {
  if (mountable !== undefined) return mountable;
  mountable = false;
  if (process.platform !== "linux" || process.getuid?.() !== 0) return false;
  const probe = join(process.env.TMPDIR ?? "/tmp", `edgespool-mount-probe-${process.pid}`);
  mkdirSync(probe, { recursive: true });
  const ok = spawnSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", probe]).status === 0;
  if (ok) run("umount", [probe]);
  rmdirSync(probe);
  mountable = ok;
  return ok;
}

/** Mounts a tmpfs of `size` (e.g. "8m") on `dir`, creating the folder. */
export function mountTmpfs(dir: string, size: string): void {
  mkdirSync(dir, { recursive: true });
  run("mount", ["-t", "tmpfs", "-o", `size=${size},mode=0700`, "tmpfs", dir]);
}

/** Unmounts, lazily if something still holds it, so afterAll never leaves a mount behind. */
export function unmount(dir: string): void {
  if (spawnSync("umount", [dir]).status !== 0) run("umount", ["-l", dir]);
}

/** Sets or clears the immutable flag on a folder and every file in it (not recursive beyond that). */
export function setImmutable(dir: string, on: boolean): void {
  const files = readdirSync(dir).map((f) => join(dir, f));
  // Order matters when clearing: the folder first, so files in it can change again.
  const paths = on ? [...files, dir] : [dir, ...files];
  for (const p of paths) run("chattr", [on ? "+i" : "-i", p]);
}

/**
 * Runs a command that must succeed: a chattr the file system refuses (tmpfs, overlayfs) or a
 * mount that fails would otherwise leave a test checking an outage that never happened.
 */
function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.status !== 0)
    throw new Error(
      `${cmd} ${args.join(" ")} failed (exit ${r.status ?? r.signal}): ${r.stderr || r.error?.message || ""}`.trim(),
    );
}

export const haveChattr = haveTool("chattr", "the unwritable-folder tests");

/** Writes zeros into `file` until the file system refuses (ENOSPC), down to the last block. */
export function fillDisk(file: string): void {
  const fd = openSync(file, "w");
  try {
    for (const size of [64 * 1024, 512]) {
      try {
        for (;;) writeSync(fd, Buffer.alloc(size));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOSPC") throw err;
      }
    }
  } finally {
    closeSync(fd);
  }
}
