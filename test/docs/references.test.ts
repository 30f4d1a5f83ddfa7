import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, extname, join, relative, resolve, sep } from "node:path";
import { describe, expect, it } from "vitest";

/**
 * The repository explains itself: code, comments and READMEs point into the repository (the
 * architecture lives in agent/README.md), never to a design document a person who clones it
 * does not have, and every relative Markdown link resolves to a file inside it.
 */

const ROOT = resolve(import.meta.dirname, "../..");
const TOP = ["agent", "simulator", "scripts", "test", "config", ".ci", "README.md", "package.json"];
const TEXT = new Set([".ts", ".js", ".mjs", ".md", ".json", ".yaml", ".yml", ".sh", ".service", ""]);

function files(path: string): string[] {
  if (!existsSync(path)) return [];
  if (!statSync(path).isDirectory()) return TEXT.has(extname(path)) ? [path] : [];
  return readdirSync(path)
    .filter((n) => n !== "node_modules" && n !== "dist")
    .flatMap((n) => files(join(path, n)));
}

const all = TOP.flatMap((t) => files(join(ROOT, t)));

// Spelled in pieces so this file does not match itself.
const OUTSIDE_DOC = new RegExp(
  ["DESIGN\\s*§", "DESIGN\\.md", "STYLE\\s+\\d", "STYLE\\.md", "/work" + "/wt/", "HELPERS\\.md"].join("|"),
);

describe("references", () => {
  it("found the repository's files", () => {
    expect(all.length).toBeGreaterThan(100);
    expect(all.some((f) => f.endsWith(join("agent", "README.md")))).toBe(true);
  });

  it("no code, comment or README refers to a document outside the repository", () => {
    const hits: string[] = [];
    for (const f of all) {
      readFileSync(f, "utf8")
        .split("\n")
        .forEach((line, i) => {
          if (OUTSIDE_DOC.test(line)) hits.push(`${relative(ROOT, f)}:${i + 1}: ${line.trim()}`);
        });
    }
    expect(hits).toEqual([]);
  });

  it("every relative Markdown link resolves to a file inside the repository", () => {
    const bad: string[] = [];
    for (const f of all.filter((p) => p.endsWith(".md"))) {
      const text = readFileSync(f, "utf8").replace(/```[\s\S]*?```/g, "");
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1]!;
        if (/^(https?:|mailto:|#)/.test(target)) continue;
        const path = resolve(dirname(f), decodeURI(target.split("#")[0]!));
        const where = `${relative(ROOT, f)} → ${target}`;
        if (/^(file:|\/)/.test(target) || !(path === ROOT || path.startsWith(ROOT + sep)))
          bad.push(`${where}: outside the repository`);
        else if (!existsSync(path)) bad.push(`${where}: no such file`);
      }
    }
    expect(bad).toEqual([]);
  });
});
