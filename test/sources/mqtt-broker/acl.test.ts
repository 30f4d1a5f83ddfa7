import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { topicMatches } from "../../../agent/parse/index.js";
import { clientIdAllowed, filterCovers, unsafeIdentity } from "../../../agent/sources/mqtt-broker/acl.js";

const level = fc.constantFrom("a", "b", "$SYS", "+", "#", "");
/** Valid filters over a few levels: `#` only last. */
const filter = fc
  .array(level, { minLength: 1, maxLength: 4 })
  .filter((ls) => !ls.slice(0, -1).includes("#"))
  .map((ls) => ls.join("/"));
const topic = fc
  .array(fc.constantFrom("a", "b", "$SYS", ""), { minLength: 1, maxLength: 5 })
  .map((ls) => ls.join("/"));

describe("subscribe ACL coverage", () => {
  it("agrees with MQTT matching on concrete topics", () => {
    fc.assert(
      fc.property(filter, topic, (g, t) => {
        expect(filterCovers(g, t)).toBe(topicMatches(g, t));
      }),
      { numRuns: 5000 },
    );
  });

  it("never grants a filter that can match a topic the grant does not", () => {
    fc.assert(
      fc.property(filter, filter, fc.array(topic, { minLength: 20, maxLength: 20 }), (g, r, topics) => {
        if (!filterCovers(g, r)) return;
        for (const t of topics) if (topicMatches(r, t)) expect(topicMatches(g, t)).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });

  it("examples", () => {
    expect(filterCovers("sensors/#", "sensors/+/t")).toBe(true);
    expect(filterCovers("sensors/#", "#")).toBe(false);
    expect(filterCovers("#", "$SYS/#")).toBe(false);
    expect(filterCovers("$SYS/#", "$SYS/x/new/clients")).toBe(true);
    expect(filterCovers("sensors/+/t", "sensors/#")).toBe(false);
  });
});

describe("client identity", () => {
  it("refuses + # / only where a pattern substitutes them", () => {
    const id = (clientId: string, username?: string) => ({ clientId, username });
    expect(unsafeIdentity(["sensors/{clientId}/#"], id("+"))).toMatch(/client id/);
    expect(unsafeIdentity(["sensors/{clientId}/#"], id("dev2/x"))).toMatch(/client id/);
    expect(unsafeIdentity(["sensors/#"], id("owntracks/anna/phone"))).toBeUndefined();
    expect(unsafeIdentity(["sensors/{username}/#"], id("ok", "a#"))).toMatch(/username/);
    expect(clientIdAllowed(["dev1", "dev1-*"], "dev1-x")).toBe(true);
    expect(clientIdAllowed(["dev1", "dev1-*"], "dev10")).toBe(false);
  });
});
