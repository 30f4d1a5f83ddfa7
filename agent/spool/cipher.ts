import { randomBytes, scryptSync, timingSafeEqual } from "node:crypto";
import {
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  statSync,
  writeSync,
} from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import Database from "better-sqlite3";
import type CipherDatabase from "better-sqlite3-multiple-ciphers";

/**
 * The optional spool key (`spool.key`). With a key the spool is a SQLite3MultipleCiphers database
 * (ChaCha20-Poly1305 per page, WAL included); the cipher build is loaded only then, so the default,
 * unencrypted agent runs on plain better-sqlite3 exactly as before.
 *
 * A wrong key and a damaged file look the same to SQLite (SQLITE_NOTADB), and a damaged spool is
 * moved aside so the agent can carry on. A wrong key must not be: the agent would start a fresh
 * spool and the data would sit unread in `spool.db.corrupt-*`. So a small verifier beside the
 * database, `spool.keycheck` (salt + scrypt of the key, 0600), tells the two apart: a key that does
 * not match it, a missing key, or a key for a plain spool stop the start with SpoolKeyError and
 * touch nothing; only with the right key is an unreadable file treated as corruption.
 */

export const KEYCHECK_FILE = "spool.keycheck";
const SQLITE_MAGIC = Buffer.from("SQLite format 3\0", "latin1");
// At least as costly per guess as the cipher's own PBKDF2 (64007 rounds), yet quick on a Pi at start.
const SCRYPT = { N: 1 << 13, r: 8, p: 1 } as const;
/** The cipher is named, not left to the library's default, so an upgrade cannot change it. */
const CIPHER = "chacha20";

/** The spool cannot be opened with the key given (or without one); nothing was changed on disk. */
export class SpoolKeyError extends Error {
  readonly code = "SPOOL_KEY";
  constructor(message: string) {
    super(message);
    this.name = "SpoolKeyError";
  }
}

interface KeyCheck {
  version: 1;
  cipher: string;
  salt: string;
  check: string;
}

function derive(key: string, salt: Buffer): Buffer {
  return scryptSync(key, salt, 32, SCRYPT);
}

function readKeyCheck(dir: string): KeyCheck | undefined {
  const path = join(dir, KEYCHECK_FILE);
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, "utf8")) as KeyCheck;
  } catch {
    throw new SpoolKeyError(
      `${path} is unreadable; the encrypted spool beside it is left untouched. Remove ${KEYCHECK_FILE} ` +
        `and start with the right key: it is written again once the key opens the spool`,
    );
  }
}

function writeKeyCheck(dir: string, key: string): void {
  const salt = randomBytes(16);
  const body: KeyCheck = {
    version: 1,
    cipher: CIPHER,
    salt: salt.toString("hex"),
    check: derive(key, salt).toString("hex"),
  };
  const path = join(dir, KEYCHECK_FILE);
  // Durable before the database exists: after a power cut there is never data without its check.
  const fd = openSync(`${path}.tmp`, "w", 0o600);
  try {
    writeSync(fd, `${JSON.stringify(body)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(`${path}.tmp`, path);
  const dirFd = openSync(dir, "r");
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}

function keyMatches(kc: KeyCheck, key: string): boolean {
  const want = Buffer.from(kc.check, "hex");
  const got = derive(key, Buffer.from(kc.salt, "hex"));
  return want.length === got.length && timingSafeEqual(want, got);
}

/** True when the file starts with SQLite's plaintext header (an encrypted one starts with noise). */
function isPlainSqlite(file: string): boolean {
  if (!existsSync(file)) return false;
  const fd = openSync(file, "r");
  try {
    const head = Buffer.alloc(SQLITE_MAGIC.length);
    return readSync(fd, head, 0, head.length, 0) === head.length && head.equals(SQLITE_MAGIC);
  } finally {
    closeSync(fd);
  }
}

function hasContent(file: string): boolean {
  return existsSync(file) && statSync(file).size > 0;
}

let cipherDriver: typeof CipherDatabase | undefined;
function cipherDatabase(): typeof CipherDatabase {
  // Synchronous, like the rest of the spool open; the module has the same API as better-sqlite3.
  try {
    cipherDriver ??= createRequire(import.meta.url)(
      "better-sqlite3-multiple-ciphers",
    ) as typeof CipherDatabase;
  } catch (err) {
    // A native module that did not build on this board: say which, rather than a bare MODULE_NOT_FOUND.
    throw new SpoolKeyError(
      `spool.key is set but the cipher build of SQLite (better-sqlite3-multiple-ciphers) cannot be ` +
        `loaded: ${(err as Error).message.split("\n")[0]}`,
    );
  }
  return cipherDriver;
}

export type DbOptions = Database.Options;

/**
 * The checks that need no decryption: throws SpoolKeyError when `key` cannot be the spool's key
 * (or is missing, or the spool is plain). Returns the key check, if there is one.
 */
function preflight(file: string, dir: string, key: string | undefined): KeyCheck | undefined {
  const kc = readKeyCheck(dir);
  if (key === undefined) {
    if (kc !== undefined)
      throw new SpoolKeyError(
        `${file} is encrypted (see ${KEYCHECK_FILE}) but no spool.key is configured: set spool.key ` +
          `(e.g. "\${EDGESPOOL_SPOOL_KEY}") to the key it was created with; the file is left untouched`,
      );
    return undefined;
  }
  if (hasContent(file) && isPlainSqlite(file))
    throw new SpoolKeyError(
      `${file} is not encrypted but spool.key is set; the file is left untouched. To encrypt the ` +
        `spool, let the sinks drain it (edgespool status), stop the agent, move ${file}* away ` +
        `and start again with the key; or remove spool.key to keep the plain spool`,
    );
  if (kc !== undefined && !keyMatches(kc, key))
    throw new SpoolKeyError(
      `spool.key does not match the key ${file} was encrypted with (${KEYCHECK_FILE}); ` +
        `the file is left untouched: start with the right key`,
    );
  return kc;
}

/** For `edgespool check`: the reason `key` will not open the spool in `dir`, without opening it. */
export function spoolKeyProblem(file: string, dir: string, key: string | undefined): string | undefined {
  try {
    preflight(file, dir, key);
    return undefined;
  } catch (err) {
    if (err instanceof SpoolKeyError) return err.message;
    // Not readable by whoever runs `check` (permissions): the agent itself will tell at start.
    return undefined;
  }
}

/**
 * Opens `file` (in `dir`) with or without a key, after checking the key against `spool.keycheck`.
 * Throws SpoolKeyError for every key mismatch; SqliteError (as without a key) for a damaged file.
 */
export function openDatabase(
  file: string,
  dir: string,
  key: string | undefined,
  options: DbOptions = {},
): Database.Database {
  const kc = preflight(file, dir, key);
  if (key === undefined) return new Database(file, options);
  const fresh = !hasContent(file);
  // The verifier goes first: a crash between the two leaves a verifier and no data, never the reverse.
  if (kc === undefined && fresh && !options.readonly) writeKeyCheck(dir, key);
  const Cipher = cipherDatabase();
  const db = new Cipher(file, options);
  try {
    db.pragma(`cipher = '${CIPHER}'`);
    db.key(Buffer.from(key, "utf8"));
    // Reading the schema decrypts page 1: a wrong key shows here as SQLITE_NOTADB.
    db.prepare("SELECT count(*) FROM sqlite_master").get();
  } catch (err) {
    db.close();
    // With a verified key an unreadable file is damage (moved aside by the caller); without a
    // verifier it could as well be the wrong key, so nothing is touched.
    if (kc === undefined && !fresh)
      throw new SpoolKeyError(
        `${file} cannot be read with spool.key (wrong key, or the file is damaged) and there is no ` +
          `${KEYCHECK_FILE} to tell which; the file is left untouched`,
      );
    throw err;
  }
  if (kc === undefined && !fresh && !options.readonly) writeKeyCheck(dir, key);
  // Same API and statement classes as better-sqlite3, which the rest of the spool is typed against.
  return db as unknown as Database.Database;
}
