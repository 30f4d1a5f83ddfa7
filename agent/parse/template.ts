/**
 * Topic templates (`sensors/{room}/{sensor}/temperature`), sensor-id templates (`{room}/{Spot}`)
 * and MQTT topic-filter matching. Compiling checks the template once, at config time, and throws
 * on a bad one; matching and rendering never throw.
 */

import { FORBIDDEN_KEYS } from "./keys.js";

const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

function checkName(name: string, template: string): void {
  if (!VAR_NAME.test(name) || FORBIDDEN_KEYS.has(name))
    throw new Error(`template "${template}": invalid variable name "{${name}}"`);
}

export interface TopicTemplate {
  readonly template: string;
  readonly names: readonly string[];
  /** The variables of a matching topic, or undefined when the topic does not fit the template. */
  match(topic: string): Record<string, string> | undefined;
}

/**
 * One level of a topic template: `+`, or literals around variables, e.g. `node-{id}` is the
 * literals ["node-", ""] around one variable (there is one literal more than variables).
 */
type Level = { kind: "plus" } | { kind: "text"; literals: readonly string[] };

/**
 * Matches one topic level against literals and variables, in time linear in the level (no regex:
 * a backtracking `([^/]+?)-([^/]+?)` is quadratic on a long level that almost fits, and worse
 * with more variables). Each variable is non-empty and as short as the rest allows, as the lazy
 * regex this replaces did: first, from the right, the latest start each variable may have; then,
 * from the left, each variable ends at the first occurrence of the next literal that keeps the
 * rest possible. A variable can absorb any characters, so "the rest can match from p" holds for
 * every p up to that latest start, which makes the first fitting occurrence the right one.
 */
function matchLevel(level: string, literals: readonly string[], vars: string[]): boolean {
  const k = literals.length - 1;
  const head = literals[0]!;
  if (k === 0) return level === head;
  const tail = literals[k]!;
  if (!level.startsWith(head) || level.length < head.length + tail.length + k) return false;
  if (!level.endsWith(tail)) return false;
  // latest[i]: the latest index where variable i may start so that the rest still fits.
  const latest = new Array<number>(k);
  latest[k - 1] = level.length - tail.length - 1;
  for (let i = k - 2; i >= 0; i--) {
    const lit = literals[i + 1]!;
    const from = latest[i + 1]! - lit.length;
    const at = from < 0 ? -1 : level.lastIndexOf(lit, from);
    if (at < 0) return false;
    latest[i] = at - 1;
  }
  let pos = head.length;
  for (let i = 0; i < k; i++) {
    if (pos > latest[i]!) return false;
    if (i === k - 1) {
      vars.push(level.slice(pos, level.length - tail.length));
      break;
    }
    const lit = literals[i + 1]!;
    const at = level.indexOf(lit, pos + 1);
    if (at < 0 || at > latest[i + 1]! - lit.length) return false;
    vars.push(level.slice(pos, at));
    pos = at + lit.length;
  }
  return true;
}

/**
 * `{name}` matches part or all of one topic level (never `/`, never empty); `+` matches one
 * unnamed level; a final `#` matches the remaining levels (zero or more).
 */
export function compileTopicTemplate(template: string): TopicTemplate {
  if (template.length === 0) throw new Error("topic template is empty");
  const raw = template.split("/");
  const names: string[] = [];
  const trailingHash = raw[raw.length - 1] === "#";
  const levels: Level[] = [];
  raw.forEach((level, i) => {
    if (level === "#") {
      if (i !== raw.length - 1) throw new Error(`topic template "${template}": "#" must be the last level`);
      return;
    }
    if (level === "+") {
      levels.push({ kind: "plus" });
      return;
    }
    const literals: string[] = [];
    let rest = level;
    for (;;) {
      const open = rest.indexOf("{");
      if (open < 0) break;
      const close = rest.indexOf("}", open);
      if (close < 0) throw new Error(`topic template "${template}": unclosed "{"`);
      const name = rest.slice(open + 1, close);
      checkName(name, template);
      if (names.includes(name)) throw new Error(`topic template "${template}": "{${name}}" appears twice`);
      names.push(name);
      literals.push(rest.slice(0, open));
      rest = rest.slice(close + 1);
    }
    if (rest.includes("}") || rest.includes("#") || rest.includes("+"))
      throw new Error(`topic template "${template}": stray "}", "+" or "#" in level "${level}"`);
    literals.push(rest);
    levels.push({ kind: "text", literals });
  });
  const fixed = levels.length;
  return {
    template,
    names,
    match(topic) {
      if (fixed === 0) return {}; // "#" alone: every topic
      const parts = topic.split("/", fixed + 1);
      if (trailingHash ? parts.length < fixed : parts.length !== fixed) return undefined;
      const values: string[] = [];
      for (let i = 0; i < fixed; i++) {
        const level = levels[i]!;
        const part = parts[i]!;
        if (level.kind === "plus") {
          if (part.length === 0) return undefined;
        } else if (!matchLevel(part, level.literals, values)) return undefined;
      }
      const vars: Record<string, string> = {};
      names.forEach((n, i) => {
        vars[n] = values[i]!;
      });
      return vars;
    },
  };
}

export type TemplateLookup = (name: string) => string | number | undefined;

export interface SensorTemplate {
  readonly template: string;
  readonly names: readonly string[];
  /** True when the template has no `{…}`: a fixed sensor id. */
  readonly fixed: boolean;
  /** The rendered id, or the first name the lookup could not resolve. */
  render(lookup: TemplateLookup): { ok: true; value: string } | { ok: false; missing: string };
}

/** `{name}` is replaced by a topic variable or a payload field (dot path); the rest is literal. */
export function compileSensorTemplate(template: string): SensorTemplate {
  const literals: string[] = [];
  const names: string[] = [];
  let rest = template;
  for (;;) {
    const open = rest.indexOf("{");
    if (open < 0) break;
    const close = rest.indexOf("}", open);
    if (close < 0) throw new Error(`sensor template "${template}": unclosed "{"`);
    const name = rest.slice(open + 1, close);
    for (const seg of name.split(".")) checkName(seg, template);
    literals.push(rest.slice(0, open));
    names.push(name);
    rest = rest.slice(close + 1);
  }
  if (rest.includes("}")) throw new Error(`sensor template "${template}": stray "}"`);
  literals.push(rest);
  return {
    template,
    names,
    fixed: names.length === 0,
    render(lookup) {
      let out = literals[0]!;
      for (let i = 0; i < names.length; i++) {
        const v = lookup(names[i]!);
        if (v === undefined) return { ok: false, missing: names[i]! };
        out += String(v) + literals[i + 1]!;
      }
      return { ok: true, value: out };
    },
  };
}

/** MQTT topic-filter matching (`+`, `#`); wildcards at the first level never match `$` topics. */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split("/");
  const t = topic.split("/");
  if (topic.startsWith("$") && (f[0] === "+" || f[0] === "#")) return false;
  for (let i = 0; i < f.length; i++) {
    const level = f[i]!;
    if (level === "#") return i === f.length - 1;
    if (i >= t.length) return false;
    if (level !== "+" && level !== t[i]) return false;
  }
  return f.length === t.length;
}

/** A matcher for a list of topic filters, compiled once; `#` alone accepts every non-`$` topic. */
export function compileTopicFilters(filters: readonly string[]): (topic: string) => boolean {
  if (filters.includes("#")) {
    const dollar = filters.filter((f) => f.startsWith("$"));
    return (topic) => !topic.startsWith("$") || dollar.some((f) => topicMatches(f, topic));
  }
  return (topic) => filters.some((f) => topicMatches(f, topic));
}
