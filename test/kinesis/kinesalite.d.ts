declare module "kinesalite" {
  import type { Server } from "node:http";

  interface KinesaliteOptions {
    /** LevelDB folder; in memory when absent. */
    path?: string;
    ssl?: boolean;
    createStreamMs?: number;
    deleteStreamMs?: number;
    updateStreamMs?: number;
    shardLimit?: number;
  }

  /** A plain node:http server speaking the Kinesis API. */
  export default function kinesalite(options?: KinesaliteOptions): Server;
}
