import { afterEach, describe, expect, it } from "vitest";
import { type HttpListener, startHttp } from "../../agent/telemetry/http.js";
import { Telemetry } from "../../agent/telemetry/telemetry.js";

let http: HttpListener | undefined;
afterEach(async () => {
  await http?.close();
  http = undefined;
});

describe("/healthz and edgespool_component_up", () => {
  it("answers 200 only while every component works, else 503 naming each failing one and why", async () => {
    const t = new Telemetry();
    http = await startHttp("127.0.0.1", 0, t, () => undefined);
    t.health.report("sink", "upstream", { ok: true });
    t.health.report("loop", "housekeeping", { ok: true });
    let res = await fetch(`${http.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: "ok", failing: [] });

    t.health.report("sink", "upstream", {
      ok: false,
      reason: "sink failing for 301 s (threshold 300 s): HTTP 503",
    });
    t.health.report("spool", "spool", { ok: false, reason: "disk full: 0 bytes free" });
    res = await fetch(`${http.url}/healthz`);
    expect(res.status).toBe(503);
    const body = (await res.json()) as {
      status: string;
      failing: { kind: string; name: string; reason: string }[];
    };
    expect(body.status).toBe("failing");
    expect(body.failing.map((f) => `${f.kind}:${f.name}:${f.reason}`)).toEqual([
      "sink:upstream:sink failing for 301 s (threshold 300 s): HTTP 503",
      "spool:spool:disk full: 0 bytes free",
    ]);
    const metrics = await (await fetch(`${http.url}/metrics`)).text();
    expect(metrics).toContain('edgespool_component_up{kind="sink",name="upstream"} 0');
    expect(metrics).toContain('edgespool_component_up{kind="loop",name="housekeeping"} 1');

    t.health.report("sink", "upstream", { ok: true });
    t.health.report("spool", "spool", { ok: true });
    expect((await fetch(`${http.url}/healthz`)).status).toBe(200);
  });
});
