import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import type Database from "better-sqlite3";
import { openDatabase } from "./cipher.js";

export type Db = Database.Database;

export const DB_FILE = "spool.db";
const SIDE_FILES = ["-wal", "-shm"] as const;

/** Page size of a new spool file. */
export const PAGE_SIZE = 1024;

/** Bytes counted per row on top of its body: the id index entry, the row header, the integer columns. */
export const ROW_OVERHEAD = 64;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS records (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  sensor TEXT NOT NULL,
  rx INTEGER NOT NULL,
  ts INTEGER NOT NULL,
  at INTEGER NOT NULL,
  body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cursors (
  sink TEXT PRIMARY KEY,
  acked INTEGER NOT NULL DEFAULT 0,
  shipped INTEGER NOT NULL DEFAULT 0,
  dead_letters INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS drops (
  sink TEXT NOT NULL,
  reason TEXT NOT NULL,
  n INTEGER NOT NULL,
  PRIMARY KEY (sink, reason)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dead_letters (
  rowid INTEGER PRIMARY KEY,
  sink TEXT NOT NULL,
  seq INTEGER NOT NULL,
  id TEXT NOT NULL,
  body TEXT NOT NULL,
  reason TEXT NOT NULL,
  at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_letters_at ON dead_letters (at);
INSERT OR IGNORE INTO meta (key, value) VALUES ('lastSeq', 0), ('bytes', 0), ('clockHigh', 0), ('clockOffset', 0);
`;

export function dbPath(dir: string): string {
  return join(dir, DB_FILE);
}

/** True for the errors after which SQLite will not read this file again: move it aside. */
export function isCorruption(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && (code.startsWith("SQLITE_CORRUPT") || code.startsWith("SQLITE_NOTADB"));
}

export function isDiskFull(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && code.startsWith("SQLITE_FULL");
}

/**
 * Errors after which the same statement may well succeed later: the disk is full (space may be
 * freed), the file is locked by another connection, or the storage hiccuped (an SD card's I/O
 * error). Callers retry these with backoff instead of giving up.
 */
export function isTransient(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^SQLITE_(FULL|BUSY|LOCKED|IOERR)/.test(code);
}

/** Restricts the database and its WAL/SHM to the owner, whichever of them exist by now. */
export function restrictFiles(dir: string): void {
  const main = dbPath(dir);
  for (const f of [main, ...SIDE_FILES.map((s) => main + s)]) {
    try {
      chmodSync(f, 0o600);
    } catch {
      // The WAL and SHM come and go with connections; absent is fine.
    }
  }
}

export interface OpenDbOptions {
  dir: string;
  sync: "normal" | "full";
  /** A hard cap in pages (tests use it to provoke SQLITE_FULL without filling a disk). */
  maxPageCount?: number;
  /** `spool.key`: encrypt the database (see cipher.ts). */
  key?: string | undefined;
}

/** Opens (creating if needed) the spool database with its pragmas and schema. Throws SqliteError. */
export function openDb(opts: OpenDbOptions): Db {
  if (!existsSync(opts.dir)) {
    mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
    chmodSync(opts.dir, 0o700);
  }
  const file = dbPath(opts.dir);
  // Create the file ourselves so it is never world-readable, not even for a moment.
  if (!existsSync(file)) closeSync(openSync(file, "a", 0o600));
  const db = openDatabase(file, opts.dir, opts.key);
  try {
    // Both must be set before the first table exists; on an existing file they are no-ops. Every
    // commit rewrites whole pages (the records' right edge, an index leaf, the freelist), so
    // small pages write less per commit: 1 KiB pages halve the bytes per reading at 10–100
    // readings/s against 4 KiB (see the footprint bench).
    db.pragma(`page_size = ${PAGE_SIZE}`);
    db.pragma("auto_vacuum = INCREMENTAL");
    db.pragma("journal_mode = WAL");
    db.pragma(`synchronous = ${opts.sync === "full" ? "FULL" : "NORMAL"}`);
    // Checkpoint every 4,000 pages instead of 1,000: a page rewritten by many commits (the records
    // b-tree's right edge, the id index, the cursors) reaches the file once per checkpoint, so
    // fewer checkpoints write fewer bytes; a 4 MiB WAL (1 KiB pages) is small beside any spool. Above
    // that (a long reader held a checkpoint back) the WAL is cut back when it restarts.
    db.pragma("wal_autocheckpoint = 4000");
    // Appends and reads stay near the right edge of the records b-tree: 2 MiB of page cache is
    // plenty, and the 16 MiB default would only grow RSS as the spool is used.
    db.pragma("cache_size = -2048");
    db.pragma(`journal_size_limit = ${20 * 1024 * 1024}`);
    if (opts.maxPageCount !== undefined) db.pragma(`max_page_count = ${opts.maxPageCount}`);
    db.exec(SCHEMA);
    // Touch the ends of the records b-tree so a truncated or damaged file shows itself now.
    db.prepare("SELECT min(seq), max(seq) FROM records").get();
    restrictFiles(opts.dir);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

/** Renames the database and its side files to `spool.db.corrupt-<timestamp>[-wal|-shm]`. */
export function moveAside(dir: string, nowMs: number): string {
  const main = dbPath(dir);
  const stamp = new Date(nowMs).toISOString().replace(/[:.]/g, "-");
  let target = `${main}.corrupt-${stamp}`;
  for (let i = 1; existsSync(target); i++) target = `${main}.corrupt-${stamp}-${i}`;
  if (existsSync(main)) renameSync(main, target);
  for (const s of SIDE_FILES) if (existsSync(main + s)) renameSync(main + s, target + s);
  return target;
}

export function walBytes(dir: string): number {
  try {
    return statSync(`${dbPath(dir)}-wal`).size;
  } catch {
    return 0;
  }
}

/** Size on disk of the database and its WAL. */
export function fileBytes(dir: string): number {
  const main = dbPath(dir);
  let total = 0;
  for (const f of [main, `${main}-wal`]) {
    try {
      total += statSync(f).size;
    } catch {
      // not there
    }
  }
  return total;
}

/**
 * A small file kept beside the database and deleted when the disk is full: in WAL mode even a
 * DELETE needs room to write, so without it `drop-oldest` could not make room on a full disk.
 */
export const RESERVE_FILE = "spool.reserve";
export const RESERVE_BYTES = 1024 * 1024;

/** Creates the reserve if it is missing; false when there is no room for it (yet). */
export function ensureReserve(dir: string, bytes = RESERVE_BYTES): boolean {
  const path = join(dir, RESERVE_FILE);
  if (existsSync(path)) return true;
  try {
    writeFileSync(path, Buffer.alloc(bytes), { mode: 0o600 });
    return true;
  } catch {
    try {
      unlinkSync(path);
    } catch {}
    return false;
  }
}

/** False once the reserve was given back on a full disk and there has been no room to take it again. */
export function hasReserve(dir: string): boolean {
  return existsSync(join(dir, RESERVE_FILE));
}

/** Deletes the reserve; true when there was one to give back. */
export function releaseReserve(dir: string): boolean {
  try {
    unlinkSync(join(dir, RESERVE_FILE));
    return true;
  } catch {
    return false;
  }
}
