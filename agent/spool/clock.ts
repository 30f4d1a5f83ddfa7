/**
 * The spool's own clock for retention and ages ("spool time"), so that wall-clock steps neither
 * drop fresh data nor stall seq.
 *
 * Spool time = wall time - offset. During a run it advances with the monotonic clock; when the
 * wall clock steps (more than STEP_MS away from where elapsed monotonic time says it should be),
 * the step goes into `offset` instead of into spool time:
 * - a step backwards (a bad RTC, a manual `date`) would otherwise make new records look older than
 *   old ones and let maxAge drop them early;
 * - a step forward by days (the first NTP sync of an RTC-less Raspberry Pi that booted with a
 *   1970 or fake-hwclock time) would otherwise make everything received before the sync look days
 *   old and maxAge would drop a fresh backlog at once.
 * The price: time the device spent powered off before such a step is not counted towards maxAge;
 * records are kept longer rather than dropped early (maxBytes still bounds the disk).
 * Spool time never goes backwards and is persisted (`high`) with every commit, so it also holds
 * across restarts: on open it is max(wall - offset, persisted high-water).
 */
export const STEP_MS = 10_000;

export interface ClockState {
  /** Highest spool time handed out so far (persisted). */
  high: number;
  /** Wall time minus spool time (persisted). */
  offset: number;
}

export class SpoolClock {
  private lastWall: number;
  private lastMono: number;
  private state: ClockState;

  constructor(
    private readonly wall: () => number,
    private readonly mono: () => number,
    persisted: ClockState,
    private readonly onStep: (stepMs: number) => void = () => {},
  ) {
    this.lastWall = wall();
    this.lastMono = mono();
    this.state = {
      offset: persisted.offset,
      high: Math.max(persisted.high, this.lastWall - persisted.offset),
    };
  }

  /** The current spool time in ms; never less than a value returned before. */
  now(): number {
    const w = this.wall();
    const m = this.mono();
    const expectedWall = this.lastWall + (m - this.lastMono);
    const step = w - expectedWall;
    if (Math.abs(step) > STEP_MS) {
      this.state.offset += step;
      this.onStep(step);
    }
    this.lastWall = w;
    this.lastMono = m;
    this.state.high = Math.max(this.state.high, w - this.state.offset);
    return this.state.high;
  }

  snapshot(): ClockState {
    return { ...this.state };
  }
}
