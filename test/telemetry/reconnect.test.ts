import { afterEach, describe, expect, it } from "vitest";
import { Reconnect } from "../../agent/reconnect.js";
import { Telemetry } from "../../agent/telemetry/telemetry.js";
import { captureLog } from "../helpers/capture-log.js";
import { metric } from "../spool/helpers.js";

const messages = {
  connected: "up",
  reconnected: "back",
  lost: "lost",
  unreachable: "unreachable",
  stillDown: "still down",
};

let rc: Reconnect | undefined;
afterEach(() => rc?.stop());

function make(retry: () => void, kind: "source" | "sink" = "source") {
  const cap = captureLog();
  const telemetry = new Telemetry(cap.log);
  rc = new Reconnect({
    kind,
    id: "dev",
    backoff: { initialMs: 5, maxMs: 20 },
    log: cap.log,
    telemetry,
    messages,
    retry,
  });
  return { cap, telemetry, rc };
}

const health = (t: Telemetry) => t.health.snapshot().components.find((c) => c.name === "dev");

describe("Reconnect", () => {
  it("logs once per state change, counts every failed attempt and reports health", async () => {
    let attempts = 0;
    let fail = 4;
    const { cap, telemetry, rc } = make(() => {
      attempts++;
      if (--fail > 0) rc.down(new Error("ECONNREFUSED"));
      else rc.up();
    });
    rc.down(new Error("ECONNREFUSED"));
    expect(health(telemetry)).toMatchObject({
      kind: "source",
      ok: false,
      reason: "unreachable: ECONNREFUSED",
    });
    expect(rc.retryInMs).toBeGreaterThanOrEqual(0);
    // A second signal for the same failure while a retry is pending changes nothing.
    rc.down(new Error("closed"));
    await expect.poll(() => cap.count("back"), { timeout: 5000 }).toBe(1);
    expect(attempts).toBe(4);
    expect(cap.count("unreachable")).toBe(1);
    expect(cap.count("still down")).toBe(3);
    expect(cap.count("lost")).toBe(0);
    expect(await metric(telemetry, "edgespool_loop_restarts_total", { loop: "source:dev" })).toBe(4);
    expect(health(telemetry)).toMatchObject({ ok: true });
    expect(rc.retryInMs).toBeUndefined();

    // Up, then lost: the warning says so, once.
    fail = 1;
    rc.down(new Error("EPIPE"));
    await expect.poll(() => cap.count("back"), { timeout: 5000 }).toBe(2);
    expect(cap.count("lost")).toBe(1);
    expect(cap.count("up")).toBe(0);
  });

  it("leaves a sink's health to its shipper", () => {
    const { telemetry, rc } = make(() => {}, "sink");
    rc.down(new Error("ECONNREFUSED"));
    rc.stop();
    expect(health(telemetry)).toBeUndefined();
  });

  it("makes no attempt after stop", async () => {
    let attempts = 0;
    const { rc } = make(() => attempts++);
    rc.up();
    rc.down("gone");
    rc.stop();
    await new Promise((r) => setTimeout(r, 60));
    expect(attempts).toBe(0);
  });
});
