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

function escapeRegExp(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|]/g, "\\$&");
}

export interface TopicTemplate {
  readonly template: string;
  readonly names: readonly string[];
  /** The variables of a matching topic, or undefined when the topic does not fit the template. */
  match(topic: string): Record<string, string> | undefined;
}

/**
 * `{name}` matches part or all of one topic level (never `/`, never empty); `+` matches one
 * unnamed level; a final `#` matches the remaining levels (zero or more).
 */
export function compileTopicTemplate(template: string): TopicTemplate {
  if (template.length === 0) throw new Error("topic template is empty");
  const levels = template.split("/");
  const names: string[] = [];
  let pattern = "";
  levels.forEach((level, i) => {
    const sep = i === 0 ? "" : "/";
    if (level === "#") {
      if (i !== levels.length - 1)
        throw new Error(`topic template "${template}": "#" must be the last level`);
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
      if (close < 0) throw new Error(`topic template "${template}": unclosed "{"`);
      const name = rest.slice(open + 1, close);
      checkName(name, template);
      if (names.includes(name)) throw new Error(`topic template "${template}": "{${name}}" appears twice`);
      names.push(name);
      part += `${escapeRegExp(rest.slice(0, open))}([^/]+?)`;
      rest = rest.slice(close + 1);
    }
    if (rest.includes("}") || rest.includes("#") || rest.includes("+"))
      throw new Error(`topic template "${template}": stray "}", "+" or "#" in level "${level}"`);
    pattern += sep + part + escapeRegExp(rest);
  });
  const re = new RegExp(`^${pattern}$`, "s");
  return {
    template,
    names,
    match(topic) {
      const m = re.exec(topic);
      if (!m) return undefined;
      const vars: Record<string, string> = {};
      names.forEach((n, i) => {
        vars[n] = m[i + 1]!;
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
