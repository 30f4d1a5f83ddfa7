import { existsSync, readdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { KEYCHECK_FILE, SpoolKeyError } from "../../agent/spool/cipher.js";
import { readSpoolStats } from "../../agent/spool/index.js";
import { cleanupsAfterEach, open, record, tempDir } from "./helpers.js";

const KEY = "correct-horse-battery-staple-1";
const WRONG = "incorrect-horse-battery-staple";
const MARKER = "PLAINTEXT_MARKER_7d41";
const cleanups = cleanupsAfterEach();

function dirWithSpool(key: string | undefined, n = 300): string {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  const { spool } = open({ dir, key });
  spool.setSinks(["out"]);
  for (let i = 0; i < n; i += 100)
    spool.append(Array.from({ length: 100 }, (_, j) => record(`r${i + j}`, `${MARKER}/s${(i + j) % 7}`)));
  spool.close();
  return dir;
}

/** Every file in the spool directory with its size and modification time, to prove nothing moved. */
function listing(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .map((f) => `${f}:${statSync(join(dir, f)).size}:${statSync(join(dir, f)).mtimeMs}`);
}

describe("spool encryption (spool.key)", () => {
  it("round-trips records, and neither the database nor its WAL holds them in plaintext", () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const { spool } = open({ dir, key: KEY });
    spool.setSinks(["out"]);
    spool.append(Array.from({ length: 500 }, (_, i) => record(`r${i}`, `${MARKER}/s${i % 5}`)));
    // While open the new pages sit in the WAL; after close they are checkpointed into spool.db.
    const files = () => readdirSync(dir).filter((f) => f.startsWith("spool.db"));
    expect(files()).toContain("spool.db-wal");
    for (const f of files()) expect(readFileSync(join(dir, f)).includes(MARKER), f).toBe(false);
    // `status` reads beside the running writer, through the WAL.
    expect(readSpoolStats(dir, Date.now, KEY).records).toBe(500);
    spool.close();
    for (const f of files()) expect(readFileSync(join(dir, f)).includes(MARKER), f).toBe(false);
    expect(readFileSync(join(dir, "spool.db")).subarray(0, 15).toString("latin1")).not.toBe(
      "SQLite format 3",
    );
    expect(statSync(join(dir, KEYCHECK_FILE)).mode & 0o777).toBe(0o600);

    const again = open({ dir, key: KEY }).spool;
    const back = again.read(0, 1000);
    expect(back).toHaveLength(500);
    expect(back[0]!.body).toContain(MARKER);
    again.close();
    expect(readSpoolStats(dir, Date.now, KEY).sinks[0]!.depth).toBe(500);
  });

  it("a wrong key stops the start with a clear error and touches nothing; the right key still reads all", () => {
    const dir = dirWithSpool(KEY);
    const before = listing(dir);
    expect(() => open({ dir, key: WRONG })).toThrow(SpoolKeyError);
    expect(() => open({ dir, key: WRONG })).toThrow(/does not match the key .* left untouched/);
    expect(() => readSpoolStats(dir, Date.now, WRONG)).toThrow(SpoolKeyError);
    expect(listing(dir)).toEqual(before);
    const { spool } = open({ dir, key: KEY });
    expect(spool.read(0, 1000)).toHaveLength(300);
    spool.close();
  });

  it("no key for an encrypted spool, or a key for a plain one: a clear error, nothing moved aside", () => {
    const enc = dirWithSpool(KEY);
    const encBefore = listing(enc);
    expect(() => open({ dir: enc })).toThrow(/is encrypted .* no spool\.key is configured/);
    expect(() => readSpoolStats(enc)).toThrow(SpoolKeyError);
    expect(listing(enc)).toEqual(encBefore);

    const plain = dirWithSpool(undefined);
    const plainBefore = listing(plain);
    expect(() => open({ dir: plain, key: KEY })).toThrow(/is not encrypted but spool\.key is set/);
    expect(listing(plain)).toEqual(plainBefore);
    expect(existsSync(join(plain, KEYCHECK_FILE))).toBe(false);
  });

  it("without its key check, a key that does not open the file is refused, not taken for corruption", () => {
    const dir = dirWithSpool(KEY);
    unlinkSync(join(dir, KEYCHECK_FILE));
    const before = listing(dir);
    expect(() => open({ dir, key: WRONG })).toThrow(/wrong key, or the file is damaged/);
    expect(listing(dir)).toEqual(before);
    // The right key opens it and writes the check again.
    const { spool } = open({ dir, key: KEY });
    expect(spool.read(0, 1000)).toHaveLength(300);
    spool.close();
    expect(existsSync(join(dir, KEYCHECK_FILE))).toBe(true);
  });

  it("with the right key, a damaged file is still moved aside like a plain one", () => {
    const dir = dirWithSpool(KEY);
    const file = join(dir, "spool.db");
    const bytes = readFileSync(file);
    bytes.fill(0x5a, 0, 4096); // page 1 destroyed
    writeFileSync(file, bytes);
    const { spool } = open({ dir, key: KEY });
    expect(spool.read(0, 10)).toHaveLength(0);
    spool.close();
    expect(readdirSync(dir).some((f) => f.startsWith("spool.db.corrupt-"))).toBe(true);
  });
});
