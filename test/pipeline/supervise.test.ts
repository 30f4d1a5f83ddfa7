import { describe, expect, it } from "vitest";
import { supervise } from "../../agent/supervise.js";
import { Telemetry } from "../../agent/telemetry/telemetry.js";

async function restarts(t: Telemetry, loop: string): Promise<number> {
  const m = await t.loopRestarts.get();
  return m.values.find((v) => v.labels.loop === loop)?.value ?? 0;
}

describe("supervise", () => {
  it("restarts a loop after each error, counts it, reports failing, then ok after a good iteration", async () => {
    const t = new Telemetry();
    const ctl = new AbortController();
    let runs = 0;
    const states: string[] = [];
    const done = supervise(
      "work",
      t,
      async (healthy, signal) => {
        runs++;
        states.push(t.health.snapshot().status);
        if (runs === 1) throw Object.assign(new Error("disk is full"), { code: "SQLITE_FULL" });
        if (runs === 2) throw new Error("flaky");
        healthy();
        ctl.abort();
        expect(signal.aborted).toBe(true);
      },
      { signal: ctl.signal, backoff: { initialMs: 1, maxMs: 5 } },
    );
    await done;
    expect(runs).toBe(3);
    expect(await restarts(t, "work")).toBe(2);
    // While restarting the loop was failing, with the error as its reason; ok once it worked.
    expect(states).toEqual(["ok", "failing", "failing"]);
    expect(t.health.snapshot().components).toMatchObject([{ kind: "loop", name: "work", ok: true }]);
  });

  it("treats a loop that returns on its own as failed, and stops when the signal aborts", async () => {
    const t = new Telemetry();
    const ctl = new AbortController();
    let runs = 0;
    await supervise(
      "quits",
      t,
      async () => {
        if (++runs === 3) ctl.abort();
      },
      { signal: ctl.signal, backoff: { initialMs: 1, maxMs: 2 } },
    );
    expect(runs).toBe(3);
    expect(await restarts(t, "quits")).toBe(2);
    expect(t.health.snapshot().components[0]).toMatchObject({ ok: false });
    expect(t.health.snapshot().components[0]!.reason).toMatch(/returned/);
  });
});
