/** One line of `npm run bench`: a figure beside the baseline measured in the same run. */
export interface BenchRow {
  /** What was measured, e.g. "spool append (records/s)". */
  name: string;
  value: number;
  unit: string;
  /** The baseline measured in the same run, e.g. raw better-sqlite3 batched inserts. */
  baselineName?: string;
  baseline?: number;
  /** value / baseline (or as the row defines it). */
  ratio?: number;
  /** The target from the issue, e.g. ">= 0.5". */
  target?: string;
  /** Peak RSS of the process during this measurement, MiB. */
  peakRssMiB?: number;
  note?: string;
}

export interface BenchOptions {
  quick: boolean;
}

export type Bench = (opts: BenchOptions) => Promise<BenchRow[]>;
