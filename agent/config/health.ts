import { z } from "zod";
import { bytes, duration } from "./common.js";

/**
 * When a component counts as failing in `/healthz`, `edgespool status`, the
 * `edgespool_component_up` gauge and the systemd watchdog. A sink that cannot write for a moment
 * is normal on flaky Wi-Fi; one that has failed for minutes, or whose backlog keeps ageing, is not.
 */
export const healthSchema = z
  .strictObject({
    /** A sink whose writes have all failed for this long is failing. */
    sinkFailingMs: duration().default(5 * 60_000),
    /** A sink whose oldest unshipped record is older than this is failing (behind or stuck). */
    maxUnshippedAgeMs: duration().default(60 * 60_000),
    /** Free space on the dataDir's file system below which the spool is failing: disk full. */
    minFreeBytes: bytes().default(1024 * 1024),
  })
  .prefault({});

export type HealthConfig = z.infer<typeof healthSchema>;
