import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { setImmutable } from "./reliability-fs.js";
import { haveTool, type Tool } from "./tools.js";

const missing = "edgespool-no-such-tool" as Tool;

describe("haveTool: a missing test tool", () => {
  afterEach(() => vi.unstubAllEnvs());

  it("fails under CI=true, so CI cannot go green without running the tests that need it", () => {
    vi.stubEnv("CI", "true");
    expect(() => haveTool(missing, "the x tests")).toThrow(/not installed.*CI=true/);
  });

  it("is a warning and a skip elsewhere; a present tool is found", () => {
    vi.stubEnv("CI", "");
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    expect(haveTool(missing, "the x tests")).toBe(false);
    expect(warn).toHaveBeenCalledWith(expect.stringMatching(/skipped$/));
    warn.mockRestore();
    expect(haveTool("openssl" satisfies Tool, "the TLS tests")).toBe(true);
  });
});

describe("setImmutable", () => {
  afterEach(() => vi.unstubAllEnvs());

  it("throws when chattr fails, instead of letting a test check an outage that never happened", () => {
    const dir = mkdtempSync(join(tmpdir(), "edgespool-chattr-"));
    try {
      // A chattr that refuses, as on a file system without the immutable flag.
      writeFileSync(join(dir, "chattr"), '#!/bin/sh\necho "Operation not supported" >&2\nexit 1\n');
      chmodSync(join(dir, "chattr"), 0o755);
      vi.stubEnv("PATH", `${dir}:${process.env.PATH ?? ""}`);
      expect(() => setImmutable(dir, true)).toThrow(
        /chattr \+i .* failed \(exit 1\): .*Operation not supported/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
