import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { parseConfigText, syntaxProblem, validateConfig } from "../../agent/config/load.js";
import { Health } from "../../agent/telemetry/health.js";
import { createLogger } from "../../agent/telemetry/logger.js";
import { errText, rememberSecrets, safeUrl, scrub, stripUserinfo } from "../../agent/telemetry/redact.js";

describe("redaction helpers", () => {
  it("drops userinfo, query and fragment from URLs, parsable or not", () => {
    expect(safeUrl("mqtt://u:p%40ss@broker:1883")).toBe("mqtt://broker:1883");
    expect(safeUrl("https://u:p@h/ingest?token=t#x")).toBe("https://h/ingest");
    expect(stripUserinfo("connect to ws://a:b@h:9001/mqtt failed; wss://c@d")).toBe(
      "connect to ws://h:9001/mqtt failed; wss://d",
    );
    expect(stripUserinfo("user@example.com wrote")).toBe("user@example.com wrote");
  });

  it("collects credentials by key, header and URL, and scrubs them raw and JSON-escaped", () => {
    const found = rememberSecrets({
      sinks: [
        { headers: { Authorization: "Bearer tok-a1b2c3" }, url: 'http://me:pw-q9"x7@h/' },
        { url: "https://h/in?api_key=qk-5551234&sig=sg-7771234&page=2000001" },
        { secretAccessKey: "sak-12345678", accessKeyId: "AKIA00001111", sessionToken: "st-87654321" },
      ],
      sources: [{ password: "src-pw-1234", tls: { key: "/etc/edgespool/broker.key" } }],
      spool: { key: "spool-key-abcdef" },
    });
    expect(found).toEqual(
      expect.arrayContaining([
        "Bearer tok-a1b2c3",
        'pw-q9"x7',
        "sak-12345678",
        "AKIA00001111",
        "st-87654321",
        "src-pw-1234",
        "spool-key-abcdef",
        "qk-5551234",
        "sg-7771234",
      ]),
    );
    expect(found).not.toContain("2000001");
    // A key *file path* is not a secret: errors naming it must stay readable.
    expect(found).not.toContain("/etc/edgespool/broker.key");
    expect(scrub(JSON.stringify({ msg: 'got pw-q9"x7 and spool-key-abcdef' }))).toBe(
      JSON.stringify({ msg: "got [redacted] and [redacted]" }),
    );
    expect(errText(new Error("auth st-87654321 for http://a:b@h"))).toBe("auth [redacted] for http://h");
  });

  it("config errors never quote a credential", () => {
    const raw = {
      sinks: [{ type: "stdout", id: "out", maxBufferAgeMs: "${SECRET_TTL}" }],
      sources: [{ type: "mqtt", id: "m", url: "mqtt://h", topics: ["#"], password: "${SECRET_TTL}" }],
    };
    let message = "";
    try {
      validateConfig(raw, "t.json", { SECRET_TTL: "ttl-secret-99" });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain("sinks[0].maxBufferAgeMs: expected a duration");
    expect(message).not.toContain("ttl-secret-99");
  });

  it("syntax errors keep their position but not the quoted file text", () => {
    // Node 22+ quotes the start of the text; Node 20 only the position. Both shapes, by hand:
    const node22 = new SyntaxError(`Unexpected token 'x', "{"password": "pw-in-file" x}" is not valid JSON`);
    expect(syntaxProblem(node22)).toBe("Unexpected token 'x' (not valid JSON)");
    expect(() => parseConfigText('password: "pw-in-yaml" x: [\n', "c.yaml")).toThrow(/line 1, column \d+/);
    expect(() => parseConfigText('password: "pw-in-yaml" x: [\n', "c.yaml")).not.toThrow(/pw-in-yaml/);
    expect(() => parseConfigText('{"password": "pw-in-json" x}', "c.json")).not.toThrow(/pw-in-json/);
  });

  it("a whole config logged by mistake comes out without its credentials", () => {
    const cfg = validateConfig(
      {
        spool: { key: "whole-spool-key-0001" },
        sources: [
          {
            type: "mqtt-broker",
            id: "b",
            auth: [{ username: "dev1", password: "whole-broker-pw-01" }],
          },
        ],
        sinks: [
          {
            type: "kinesis",
            id: "k",
            stream: "s",
            accessKeyId: "AKIAWHOLE000111",
            secretAccessKey: "whole-sak-000111",
            sessionToken: "whole-st-000111",
          },
          {
            type: "http",
            id: "h",
            url: "https://u:whole-url-pw@h/",
            headers: { authorization: "Bearer whole-tok" },
          },
        ],
      },
      "t",
      {},
    );
    rememberSecrets(cfg);
    let out = "";
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        out += chunk.toString();
        done();
      },
    });
    const log = createLogger({ destination: sink, level: "debug" });
    log.debug({ cfg }, "config");
    log.info(cfg, "config as the log object");
    expect(out).toContain("[redacted]");
    for (const s of ["whole-spool-key-0001", "whole-broker-pw-01", "AKIAWHOLE000111", "whole-sak-000111"])
      expect(out).not.toContain(s);
    for (const s of ["whole-st-000111", "whole-url-pw", "Bearer whole-tok"]) expect(out).not.toContain(s);
  });

  it("health reasons (shown by /healthz, status and the status page) are scrubbed too", () => {
    rememberSecrets({ sinks: [{ password: "health-pw-424242" }] });
    const h = new Health();
    h.report("sink", "up", {
      ok: false,
      reason: "connect mqtt://u:health-pw-424242@h failed: health-pw-424242",
    });
    expect(h.snapshot().components[0]!.reason).toBe("connect mqtt://h failed: [redacted]");
  });

  it("a config read later (a SIGHUP reload) adds its credentials to what is scrubbed", () => {
    validateConfig(
      {
        sinks: [
          { type: "http", id: "h", url: "http://h/", headers: { authorization: "Bearer reload-tok-77" } },
        ],
      },
      "reloaded.json",
      {},
    );
    expect(scrub("echo: Bearer reload-tok-77")).toBe("echo: [redacted]");
  });
});
