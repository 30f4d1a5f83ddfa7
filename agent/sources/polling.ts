import type { Reading } from "../record/record.js";
import type { Source, SourceContext } from "./source.js";

/**
 * A source that reads every `intervalMs` (host sensors, 1-Wire probes): one poll at a time, the
 * readings handed to ingest, failures logged at a bounded rate, `stop()` waiting for the poll
 * in flight. `poll` returns what it read (empty when nothing was there).
 */
export function pollingSource(
  id: string,
  type: string,
  intervalMs: number,
  ctx: SourceContext,
  poll: () => Promise<Reading[]>,
): Source {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;

  async function once(): Promise<void> {
    const readings = await poll();
    if (readings.length === 0) return;
    try {
      await ctx.ingest.submit(id, readings);
    } catch (err) {
      ctx.telemetry.warnLimited(`${type}:${id}:submit`, { source: id, err: String(err) }, "ingest failed");
    }
  }

  function loop(): void {
    running = once()
      .catch((err: unknown) => ctx.log.error({ err: String(err) }, "poll failed"))
      .finally(() => {
        running = undefined;
        if (!stopped) timer = setTimeout(loop, intervalMs);
      });
  }

  return {
    id,
    type,
    async start() {
      loop();
      await running;
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      await running;
    },
  };
}
