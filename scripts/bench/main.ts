import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { Bench, BenchRow } from "./types.js";

/**
 * `npm run bench [-- --quick] [-- --only spool,broker]`: runs every benchmark of the project in
 * one process, one after another (so they do not compete for the 2 cores), and prints each figure
 * beside its baseline measured in the same run.
 */
const SUITES = [
  "spool",
  "spool-key",
  "broker",
  "kinesis",
  "sources",
  "sim",
  "peers",
  "consume",
  "firehose",
  "footprint",
] as const;

function fmt(n: number | undefined, digits = 0): string {
  if (n === undefined || Number.isNaN(n)) return "";
  return n >= 100 ? Math.round(n).toLocaleString("en-US") : n.toFixed(digits || 2);
}

export function renderTable(rows: { suite: string; row: BenchRow }[]): string {
  const head = [
    "suite",
    "measurement",
    "value",
    "unit",
    "baseline",
    "baseline value",
    "ratio",
    "target",
    "peak RSS MiB",
    "note",
  ];
  const body = rows.map(({ suite, row: r }) => [
    suite,
    r.name,
    fmt(r.value),
    r.unit,
    r.baselineName ?? "",
    fmt(r.baseline),
    r.ratio === undefined ? "" : r.ratio.toFixed(2),
    r.target ?? "",
    r.peakRssMiB === undefined ? "" : r.peakRssMiB.toFixed(0),
    r.note ?? "",
  ]);
  const all = [head, ...body];
  const w = head.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(w[i]!)).join(" | ")} |`;
  return [line(head), `|${w.map((n) => "-".repeat(n + 2)).join("|")}|`, ...body.map(line)].join("\n");
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const quick = args.includes("--quick");
  const onlyArg = args.find((a) => a.startsWith("--only"));
  const only = onlyArg
    ? (onlyArg.includes("=") ? onlyArg.split("=")[1]! : args[args.indexOf(onlyArg) + 1]!).split(",")
    : undefined;
  const here = dirname(fileURLToPath(import.meta.url));
  const rows: { suite: string; row: BenchRow }[] = [];
  const started = Date.now();
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 100);
  for (const suite of SUITES) {
    if (only && !only.includes(suite)) continue;
    const file = join(here, `${suite}.js`);
    if (!existsSync(file)) continue;
    process.stderr.write(`bench: ${suite}${quick ? " (quick)" : ""}...\n`);
    const t0 = Date.now();
    try {
      const mod = (await import(pathToFileURL(file).href)) as { run: Bench };
      for (const row of await mod.run({ quick })) rows.push({ suite, row });
    } catch (err) {
      rows.push({
        suite,
        row: { name: `FAILED: ${(err as Error).message.slice(0, 80)}`, value: Number.NaN, unit: "" },
      });
    }
    process.stderr.write(`bench: ${suite} done in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  }
  clearInterval(sampler);
  const header = `edgespool bench ${quick ? "--quick " : ""}— ${new Date().toISOString()} — node ${process.version}, ${(
    (Date.now() - started) /
    1000
  ).toFixed(0)} s, peak RSS of the bench process ${(peak / 2 ** 20).toFixed(0)} MiB`;
  process.stdout.write(`${header}\n\n${renderTable(rows)}\n`);
}

await main();
