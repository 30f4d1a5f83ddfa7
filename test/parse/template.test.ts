import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  compileSensorTemplate,
  compileTopicFilters,
  compileTopicTemplate,
  topicMatches,
} from "../../agent/parse/index.js";

describe("topic templates", () => {
  it("match levels, partial levels, + and a trailing #", () => {
    expect(
      compileTopicTemplate("sensors/{room}/{sensor}/temperature").match("sensors/a/b/temperature"),
    ).toEqual({
      room: "a",
      sensor: "b",
    });
    expect(
      compileTopicTemplate("sensors/{room}/{sensor}/temperature").match("sensors/a/b/humidity"),
    ).toBeUndefined();
    expect(
      compileTopicTemplate("sensors/{room}/{sensor}/temperature").match("sensors//b/temperature"),
    ).toBeUndefined();
    expect(compileTopicTemplate("dev/node-{id}/+/#").match("dev/node-7/x")).toEqual({ id: "7" });
    expect(compileTopicTemplate("dev/node-{id}/+/#").match("dev/node-7/x/y/z")).toEqual({ id: "7" });
    expect(compileTopicTemplate("a.b/{x}").match("aXb/1")).toBeUndefined();
    // Several variables in one level: each non-empty and as short as the rest allows.
    expect(compileTopicTemplate("node-{a}-{b}").match("node-1-2-3")).toEqual({ a: "1", b: "2-3" });
    expect(compileTopicTemplate("{a}{b}/t").match("xyz/t")).toEqual({ a: "x", b: "yz" });
  });

  it("round-trips: a topic built from a template gives back its variables", () => {
    const level = fc.stringMatching(/^[^/+#{}]{1,12}$/);
    fc.assert(
      fc.property(
        fc.array(level, { minLength: 1, maxLength: 5 }),
        fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }),
        (parts, isVar) => {
          const template = parts.map((p, i) => (isVar[i] ? `{v${i}}` : p)).join("/");
          const vars = compileTopicTemplate(template).match(parts.join("/"));
          const expected: Record<string, string> = {};
          parts.forEach((p, i) => {
            if (isVar[i]) expected[`v${i}`] = p;
          });
          expect(vars).toEqual(expected);
        },
      ),
    );
  });
});

describe("topic filters", () => {
  it("follow MQTT wildcard rules", () => {
    expect(topicMatches("sensors/#", "sensors")).toBe(true);
    expect(topicMatches("sensors/#", "sensors/a/b")).toBe(true);
    expect(topicMatches("sensors/+", "sensors/a/b")).toBe(false);
    expect(topicMatches("sensors/+/t", "sensors/a/t")).toBe(true);
    expect(topicMatches("#", "$SYS/x")).toBe(false);
    expect(topicMatches("+/x", "$SYS/x")).toBe(false);
    expect(topicMatches("$SYS/#", "$SYS/x")).toBe(true);
    expect(topicMatches("a/b", "a/b/c")).toBe(false);
  });

  it("compiled filter lists agree with matching one by one", () => {
    const level = fc.constantFrom("a", "b", "+", "#", "$SYS", "x");
    const filter = fc.array(level, { minLength: 1, maxLength: 4 }).map((l) => l.join("/"));
    const topic = fc
      .array(fc.constantFrom("a", "b", "$SYS", "x", ""), { minLength: 1, maxLength: 4 })
      .map((l) => l.join("/"));
    fc.assert(
      fc.property(fc.array(filter, { minLength: 1, maxLength: 4 }), topic, (filters, t) => {
        expect(compileTopicFilters(filters)(t)).toBe(filters.some((f) => topicMatches(f, t)));
      }),
    );
  });
});

describe("sensor templates", () => {
  it("render literals and lookups, and name what is missing", () => {
    const t = compileSensorTemplate("{room}/t-{n}");
    expect(t.render((k) => ({ room: "hall", n: 3 })[k])).toEqual({ ok: true, value: "hall/t-3" });
    expect(t.render((k) => ({ room: "hall" })[k as "room"])).toEqual({ ok: false, missing: "n" });
    expect(compileSensorTemplate("fixed").fixed).toBe(true);
  });
});
