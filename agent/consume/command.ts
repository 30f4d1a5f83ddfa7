import { Command, InvalidArgumentError, Option } from "commander";
import { validateFilter } from "../pipeline/transforms/filter.js";
import { createLogger } from "../telemetry/logger.js";

function msArg(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0)
    throw new InvalidArgumentError("expected milliseconds (a non-negative integer)");
  return n;
}

function filterArg(v: string): string {
  const problem = validateFilter(v);
  if (problem) throw new InvalidArgumentError(problem);
  return v;
}

interface ConsumeFlags {
  stream: string;
  endpoint?: string;
  region?: string;
  db: string;
  filter?: string;
  from: "trim-horizon" | "latest";
  follow?: boolean;
  untilIdle?: number;
  gaps?: boolean;
}

/**
 * `edgespool consume`: the local stand-in for the Kinesis tutorial's consumer (a KCL application
 * or a Lambda that keeps hot readings and stores them in a table). Credentials come from the
 * standard AWS chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, profile, role).
 */
export function consumeCommand(): Command {
  return new Command("consume")
    .description("read a Kinesis stream, de-aggregate, drop duplicate ids, store readings in SQLite")
    .requiredOption("-s, --stream <name>", "stream name")
    .option("-e, --endpoint <url>", "endpoint, e.g. http://127.0.0.1:4567 for kinesalite")
    .option("-r, --region <region>", "AWS region (default: AWS_REGION)")
    .option("-d, --db <file>", "SQLite file for readings and per-shard checkpoints", "consumer.db")
    .option("-f, --filter <expression>", "keep only matching readings, e.g. 'temperature >= 35'", filterArg)
    .addOption(
      new Option("--from <position>", "where a shard without a checkpoint starts")
        .choices(["trim-horizon", "latest"])
        .default("trim-horizon"),
    )
    .option("--follow", "keep reading new records until interrupted")
    .option("--until-idle <ms>", "stop once no new record arrived for this many ms", msArg)
    .option("--gaps", "add per-device gaps in the device sequence (dseq) to the summary")
    .action(async (flags: ConsumeFlags) => {
      const log = createLogger();
      const ctl = new AbortController();
      const stop = () => ctl.abort();
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
      try {
        // Loaded here, not at the top: every other CLI command stays free of the AWS SDK.
        const { consumeStream } = await import("./consumer.js");
        const stats = await consumeStream({
          stream: flags.stream,
          endpoint: flags.endpoint,
          region: flags.region,
          db: flags.db,
          filter: flags.filter,
          from: flags.from,
          follow: flags.follow === true,
          untilIdleMs: flags.untilIdle,
          signal: ctl.signal,
          log,
        });
        log.info({ ...stats, db: flags.db }, "consume finished");
        const gaps = flags.gaps ? (await import("./gaps.js")).gapReport(flags.db) : undefined;
        process.stdout.write(`${JSON.stringify(gaps ? { ...stats, gaps } : stats)}\n`);
      } finally {
        process.off("SIGINT", stop);
        process.off("SIGTERM", stop);
      }
    });
}
