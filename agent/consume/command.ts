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

function usage(problem: string): void {
  process.stderr.write(`consume: ${problem} (see edgespool consume --help)\n`);
  process.exitCode = 2;
}

interface ConsumeFlags {
  stream?: string;
  endpoint?: string;
  region?: string;
  db: string;
  filter?: string;
  from: "trim-horizon" | "latest";
  follow?: boolean;
  untilIdle?: number;
  table?: string;
  dynamodbEndpoint?: string;
  app?: string;
  worker?: string;
  leaseMs: number;
  leases?: boolean;
  gaps?: boolean;
}

/**
 * `edgespool consume`: the local stand-in for the Kinesis tutorial's consumer (a KCL application
 * or a Lambda that keeps hot readings and stores them in a table). Credentials come from the
 * standard AWS chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, profile, role).
 */
export function consumeCommand(): Command {
  return new Command("consume")
    .description(
      "read a Kinesis stream, de-aggregate, store each reading once in SQLite or DynamoDB; share shards with --app",
    )
    .option("-s, --stream <name>", "stream name (required unless --leases)")
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
    .option("--table <name>", "store readings in this DynamoDB table (created if missing) instead of --db")
    .option("--dynamodb-endpoint <url>", "DynamoDB endpoint, e.g. http://127.0.0.1:4568 for dynalite")
    .option("--app <name>", "share the stream with other workers through the lease table <name>")
    .option("--worker <id>", "this worker's name in the lease table (default: the process id)")
    .option(
      "--lease-ms <ms>",
      "failover time: a lease not renewed for this long is taken over",
      msArg,
      10_000,
    )
    .option("--leases", "print who holds which shard of --app and how far behind each is, then exit")
    .option("--gaps", "add per-device gaps in the device sequence (dseq) to the summary")
    .action(async (flags: ConsumeFlags) => {
      const log = createLogger();
      if (flags.leases) {
        if (!flags.app) return usage("--leases needs --app NAME");
        const { leaseReport } = await import("./report.js");
        const ep = { endpoint: flags.dynamodbEndpoint, region: flags.region };
        try {
          process.stdout.write(await leaseReport(flags.app, ep));
        } catch (err) {
          log.error(
            { app: flags.app, err: err instanceof Error ? err.message : String(err) },
            "no lease table",
          );
          process.exitCode = 1;
        }
        return;
      }
      if (!flags.stream) return usage("--stream NAME is required");
      // The gap report reads the readings back from the SQLite file.
      if (flags.gaps && flags.table) return usage("--gaps reads --db; it does not work with --table");
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
          table: flags.table,
          dynamodbEndpoint: flags.dynamodbEndpoint,
          app: flags.app,
          worker: flags.worker,
          leaseMs: flags.leaseMs,
          signal: ctl.signal,
          log,
        });
        log.info(
          { ...stats, ...(flags.table ? { table: flags.table } : { db: flags.db }) },
          "consume finished",
        );
        const gaps = flags.gaps ? (await import("./gaps.js")).gapReport(flags.db) : undefined;
        process.stdout.write(`${JSON.stringify(gaps ? { ...stats, gaps } : stats)}\n`);
      } catch (err) {
        // A stream or table that is not there, no credentials: one line that says so, exit 1.
        log.error({ err: err instanceof Error ? err.message : String(err) }, "consume failed");
        process.exitCode = 1;
      } finally {
        process.off("SIGINT", stop);
        process.off("SIGTERM", stop);
      }
    });
}
