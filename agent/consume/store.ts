import { chmodSync } from "node:fs";
import Database from "better-sqlite3";

/** One reading as the consumer stores it. */
export interface StoredReading {
  id: string;
  sensor: string;
  ts: string | null;
  temperature: number | null;
  humidity: number | null;
  seq: number | null;
  body: string;
}

export interface Checkpoint {
  sequenceNumber: string | null;
  ended: boolean;
}

/**
 * The consumer's SQLite file: the `readings` table (id is the primary key, so a record delivered
 * twice is stored once) and one checkpoint per shard. A GetRecords page and its checkpoint commit
 * in one transaction, so a restart neither skips nor re-applies a page.
 */
export class ConsumerStore {
  private readonly db: Database.Database;
  private readonly insert: Database.Statement;
  private readonly upsertCheckpoint: Database.Statement;
  private readonly selectCheckpoint: Database.Statement;

  constructor(file: string) {
    this.db = new Database(file);
    if (file !== ":memory:") chmodSync(file, 0o600);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = NORMAL");
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS readings (
        id TEXT PRIMARY KEY,
        sensor TEXT NOT NULL,
        ts TEXT,
        temperature REAL,
        humidity REAL,
        seq INTEGER,
        shard_id TEXT,
        body TEXT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS readings_sensor_ts ON readings (sensor, ts);
      CREATE TABLE IF NOT EXISTS checkpoints (
        stream TEXT NOT NULL,
        shard_id TEXT NOT NULL,
        sequence_number TEXT,
        ended INTEGER NOT NULL DEFAULT 0,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (stream, shard_id)
      );
    `);
    this.insert = this.db.prepare(
      `INSERT OR IGNORE INTO readings (id, sensor, ts, temperature, humidity, seq, shard_id, body)
       VALUES (@id, @sensor, @ts, @temperature, @humidity, @seq, @shard, @body)`,
    );
    this.upsertCheckpoint = this.db.prepare(
      `INSERT INTO checkpoints (stream, shard_id, sequence_number, ended, updated_at)
       VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (stream, shard_id) DO UPDATE SET
         sequence_number = COALESCE(excluded.sequence_number, checkpoints.sequence_number),
         ended = MAX(checkpoints.ended, excluded.ended),
         updated_at = excluded.updated_at`,
    );
    this.selectCheckpoint = this.db.prepare(
      "SELECT sequence_number AS sequenceNumber, ended FROM checkpoints WHERE stream = ? AND shard_id = ?",
    );
  }

  checkpoint(stream: string, shardId: string): Checkpoint | undefined {
    const row = this.selectCheckpoint.get(stream, shardId) as
      { sequenceNumber: string | null; ended: number } | undefined;
    return row ? { sequenceNumber: row.sequenceNumber, ended: row.ended === 1 } : undefined;
  }

  hasCheckpoints(stream: string): boolean {
    return this.db.prepare("SELECT 1 FROM checkpoints WHERE stream = ? LIMIT 1").get(stream) !== undefined;
  }

  /** Stores a page of readings and moves the shard's checkpoint, atomically. Returns how many were new. */
  commit(
    stream: string,
    shardId: string,
    readings: readonly StoredReading[],
    sequenceNumber: string | null,
    ended: boolean,
  ): number {
    return this.db.transaction(() => {
      let stored = 0;
      for (const r of readings) stored += this.insert.run({ ...r, shard: shardId }).changes;
      this.upsertCheckpoint.run(stream, shardId, sequenceNumber, ended ? 1 : 0, new Date().toISOString());
      return stored;
    })();
  }

  count(): number {
    return (this.db.prepare("SELECT count(*) AS n FROM readings").get() as { n: number }).n;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
