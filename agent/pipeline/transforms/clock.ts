/**
 * Clock judgement for the aggregate transform. A Raspberry Pi has no RTC: it boots in 1970 or at
 * a stale fake-hwclock time and NTP later steps the wall clock, forwards or backwards. Device
 * clocks are independent of it. Neither clock is trusted blindly here.
 */

/**
 * The largest gap between two consecutive calls (process or flush) that counts as elapsed time.
 * The shipper calls the transform about once a second (idle poll, buffer age), so a larger gap
 * is a wall-clock step (or a suspended process, or a long delivery): it counts as this much.
 * Erring this way only delays an idle close; trusting a step would close windows early and drop
 * the readings still due in them. So a step can close a window at most this much early.
 */
export const MAX_CALL_GAP_MS = 10_000;

/**
 * Elapsed time built from the wall clock readings the caller passes, each gap clamped to
 * [0, MAX_CALL_GAP_MS]: never goes back, never jumps. `now <= 0` means the caller has no clock.
 */
export class SteppedClock {
  /** Clamped ms elapsed since the first clock reading. */
  elapsed = 0;
  private last: number | undefined;

  /** Feeds a wall clock reading; returns whether one has ever been seen. */
  tick(nowMs: number): boolean {
    if (!(nowMs > 0) || !Number.isFinite(nowMs)) return this.last !== undefined;
    if (this.last !== undefined) this.elapsed += Math.min(Math.max(nowMs - this.last, 0), MAX_CALL_GAP_MS);
    this.last = nowMs;
    return true;
  }

  get known(): boolean {
    return this.last !== undefined;
  }
}

/**
 * A device clock this far ahead of the agent's is suspect: one such reading would push the
 * sensor's watermark into the future and make every later reading "late".
 */
export const MAX_FUTURE_MS = 24 * 3_600_000;

/** Before this the agent's own clock is certainly unset (RTC-less boot in 1970). */
export const PLAUSIBLE_CLOCK_MS = Date.UTC(2020, 0, 1);

/** Two devices whose lead over the agent's clock differs by less than this agree on the time. */
export const AGREE_MS = 3_600_000;

/**
 * Decides whether a reading far ahead of the agent's clock (ts > rx + MAX_FUTURE_MS) comes from
 * a broken device clock (drop it) or from a wrong agent clock (keep it). The agent's clock alone
 * cannot tell; independent evidence can:
 * - the device's own history: a ts within MAX_FUTURE_MS (plus the rx time elapsed) of its last
 *   accepted ts is a clock running on, not a jump;
 * - the fleet: within MAX_FUTURE_MS of the highest ts any sensor had accepted;
 * - a second device: another sensor's last rejected reading led the agent's clock by about the
 *   same amount, so the agent is the one behind (a stale fake-hwclock);
 * - nothing accepted yet and the agent's clock before 2020: it is unset, so it is no reference.
 * So a single device whose clock jumps ahead, or which alone disagrees with the rest, is still
 * dropped. Undecidable, and dropped until NTP: one lone sensor, the agent's clock plausible but
 * more than a day behind.
 */
export class FutureGuard {
  private readonly last = new Map<string, { ts: number; rx: number }>();
  private fleetMaxTs = Number.NEGATIVE_INFINITY;
  /** ts - rx of each sensor's last rejected reading. */
  private readonly rejectedLead = new Map<string, number>();

  /** Returns whether to keep the reading, and learns from it. */
  admit(sensor: string, ts: number, rx: number): boolean {
    const ok = ts <= rx + MAX_FUTURE_MS || this.vouched(sensor, ts, rx);
    if (ok) {
      this.last.set(sensor, { ts, rx });
      this.fleetMaxTs = Math.max(this.fleetMaxTs, ts);
      this.rejectedLead.delete(sensor);
    } else this.rejectedLead.set(sensor, ts - rx);
    return ok;
  }

  private vouched(sensor: string, ts: number, rx: number): boolean {
    const prev = this.last.get(sensor);
    if (prev && ts <= prev.ts + Math.max(0, rx - prev.rx) + MAX_FUTURE_MS) return true;
    if (ts <= this.fleetMaxTs + MAX_FUTURE_MS) return true;
    if (this.last.size === 0 && rx < PLAUSIBLE_CLOCK_MS) return true;
    const lead = ts - rx;
    for (const [other, l] of this.rejectedLead)
      if (other !== sensor && Math.abs(l - lead) <= AGREE_MS) return true;
    return false;
  }
}
