import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { csvFields } from "../../agent/parse/formats.js";
import { compileTopicTemplate, createParser } from "../../agent/parse/index.js";
import { NUMERIC } from "../../agent/parse/values.js";

/**
 * The input-facing regexes and loops of the parser were rewritten to run in linear time. These
 * properties pin that the rewrites accept and refuse exactly what the old (backtracking) forms
 * did on normal-size input; the old forms are kept here, verbatim, only as oracles.
 */

const OLD_NUMERIC = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** The regex the old compileTopicTemplate built: `{x}` became a lazy `([^/]+?)`. */
function oldTemplateMatch(template: string, topic: string): Record<string, string> | undefined {
  const esc = (s: string) => s.replace(/[\\^$.*+?()[\]{}|]/g, "\\$&");
  const levels = template.split("/");
  const names: string[] = [];
  let pattern = "";
  levels.forEach((level, i) => {
    const sep = i === 0 ? "" : "/";
    if (level === "#") {
      pattern += i === 0 ? ".*" : "(?:/.*)?";
      return;
    }
    if (level === "+") {
      pattern += `${sep}[^/]+`;
      return;
    }
    let part = "";
    let rest = level;
    for (;;) {
      const open = rest.indexOf("{");
      if (open < 0) break;
      const close = rest.indexOf("}", open);
      names.push(rest.slice(open + 1, close));
      part += `${esc(rest.slice(0, open))}([^/]+?)`;
      rest = rest.slice(close + 1);
    }
    pattern += sep + part + esc(rest);
  });
  const m = new RegExp(`^${pattern}$`, "s").exec(topic);
  if (!m) return undefined;
  const vars: Record<string, string> = {};
  names.forEach((n, i) => (vars[n] = m[i + 1]!));
  return vars;
}

function oldCsvFields(line: string, delimiter: string): string[] | undefined {
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  let i = 0;
  while (i < line.length) {
    const c = line[i]!;
    if (quoted) {
      if (c === '"') {
        if (line[i + 1] === '"') {
          cur += '"';
          i++;
        } else quoted = false;
      } else cur += c;
    } else if (c === '"' && cur.trim() === "") {
      quoted = true;
      cur = "";
    } else if (c === delimiter) {
      out.push(cur.trim());
      cur = "";
    } else cur += c;
    i++;
  }
  if (quoted) return undefined;
  out.push(cur.trim());
  return out;
}

const chars = (alphabet: string, maxLength: number) =>
  fc.array(fc.constantFrom(...alphabet.split("")), { maxLength }).map((a) => a.join(""));

describe("linear-time parsers agree with the old ones", () => {
  it("numeric strings", () => {
    fc.assert(
      fc.property(chars("0123456789.eE+- x", 24), (s) => {
        expect(NUMERIC.test(s)).toBe(OLD_NUMERIC.test(s));
      }),
      { numRuns: 20_000 },
    );
  });

  it("topic templates, several variables in one level included", () => {
    // Templates over a tiny alphabet so that literals recur inside the values, where a wrong
    // split would show; each level is a literal, `+`, or literals around up to three variables.
    const lit = chars("ab-_", 3);
    const level = fc.oneof(
      lit.filter((s) => s.length > 0),
      fc.constant("+"),
      fc.tuple(lit, fc.array(lit, { minLength: 1, maxLength: 3 })).map(([head, rest]) => ({ head, rest })),
    );
    const template = fc
      .tuple(fc.array(level, { minLength: 1, maxLength: 4 }), fc.boolean())
      .map(([levels, hash]) => {
        let n = 0;
        const parts = levels.map((l) =>
          typeof l === "string" ? l : l.head + l.rest.map((r) => `{v${n++}}${r}`).join(""),
        );
        return [...parts, ...(hash ? ["#"] : [])].join("/");
      });
    const topic = chars("ab-_/", 14);
    fc.assert(
      fc.property(template, topic, (t, s) => {
        expect(compileTopicTemplate(t).match(s)).toEqual(oldTemplateMatch(t, s));
      }),
      { numRuns: 20_000 },
    );
    // Topics built to fit, so that matches (not only refusals) are compared.
    fc.assert(
      fc.property(template, fc.array(chars("ab-_", 4), { minLength: 6, maxLength: 6 }), (t, fill) => {
        let i = 0;
        const s = t
          .replace(/\{v\d+\}/g, () => fill[i++ % fill.length] || "a")
          .replace(/(^|\/)\+(?=\/|$)/g, "$1b")
          .replace(/\/#$/, "/x/y");
        expect(compileTopicTemplate(t).match(s)).toEqual(oldTemplateMatch(t, s));
      }),
      { numRuns: 20_000 },
    );
  });

  it("CSV fields", () => {
    fc.assert(
      fc.property(chars('a ",;\t', 20), fc.constantFrom(",", ";"), (line, d) => {
        expect(csvFields(line, d)).toEqual(oldCsvFields(line, d));
      }),
      { numRuns: 20_000 },
    );
  });
});

describe("hostile input is handled in linear time", () => {
  // Each case is ~60 KB; the old forms took seconds on them (quadratic or worse). What is checked
  // is the outcome; the time is the test's own (the suite's timeout would catch a regression, and
  // test/sources/mqtt-broker/hostile.test.ts measures the effect on other publishers).
  const digits = "1".repeat(60_000);

  it("a digit-string temperature or timestamp with a bad tail", () => {
    const p = createParser({});
    expect(p.parse(`{"sensor":"a","temperature":"${digits}x"}`)).toMatchObject({
      ok: false,
      reason: "wrong-type",
    });
    expect(p.parse(`{"sensor":"a","temperature":21,"ts":"${digits}x"}`)).toMatchObject({
      ok: false,
      reason: "wrong-type",
    });
    expect(p.parse(`{"sensor":"a","temperature":"${digits}"}`)).toMatchObject({
      ok: false,
      reason: "not-finite",
    });
  });

  it("a template with several variables in one level against a long almost-fitting level", () => {
    const t = compileTopicTemplate("s/{a}-{b}-{c}/t");
    expect(t.match(`s/${"x-".repeat(30_000)}/u`)).toBeUndefined();
    expect(t.match(`s/${"x-".repeat(30_000)}`)).toBeUndefined();
    expect(t.match(`s/a-b-${"c".repeat(60_000)}/t`)).toEqual({ a: "a", b: "b", c: "c".repeat(60_000) });
    expect(compileTopicTemplate("s/{a}{b}{c}z").match(`s/${"y".repeat(60_000)}`)).toBeUndefined();
  });

  it("a CSV line of quotes", () => {
    const p = createParser({ format: "csv" });
    expect(p.parse(`a${'"'.repeat(60_000)}`)).toMatchObject({ ok: false });
  });
});
