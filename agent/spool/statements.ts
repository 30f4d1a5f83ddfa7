import type Database from "better-sqlite3";
import type { Db } from "./db.js";

type Stmt = Database.Statement;

/** Every statement the spool runs, prepared once per connection. */
export interface Statements {
  insert: Stmt;
  exists: Stmt;
  read: Stmt;
  firstSeq: Stmt;
  sumUpTo: Stmt;
  countRange: Stmt;
  deleteUpTo: Stmt;
  sizesBySeq: Stmt;
  firstFresh: Stmt;
  setMeta: Stmt;
  cursors: Stmt;
  addCursor: Stmt;
  setCursor: Stmt;
  deleteCursor: Stmt;
  deleteDrops: Stmt;
  ackCursor: Stmt;
  addDrop: Stmt;
  addDeadLetterCount: Stmt;
  insertDeadLetter: Stmt;
  expireDeadLetters: Stmt;
  deadLetterBefore: Stmt;
  deadLetterBytes: Stmt;
  deadLetterBytesBefore: Stmt;
  deadLetterSizes: Stmt;
  deleteDeadLettersUpTo: Stmt;
  addMeta: Stmt;
}

export function prepareStatements(db: Db): Statements {
  const p = (sql: string) => db.prepare(sql);
  return {
    insert: p(
      "INSERT OR IGNORE INTO records (seq, id, sensor, rx, ts, at, body) VALUES (?, ?, ?, ?, ?, ?, ?)",
    ),
    exists: p("SELECT 1 FROM records WHERE id = ?").pluck(),
    read: p("SELECT seq, id, sensor, ts, rx, body FROM records WHERE seq > ? ORDER BY seq LIMIT ?"),
    firstSeq: p("SELECT min(seq) FROM records").pluck(),
    sumUpTo: p("SELECT count(*) AS n, total(length(CAST(body AS BLOB))) AS b FROM records WHERE seq <= ?"),
    countRange: p("SELECT count(*) FROM records WHERE seq > ? AND seq <= ?").pluck(),
    deleteUpTo: p("DELETE FROM records WHERE seq <= ?"),
    sizesBySeq: p("SELECT seq, length(CAST(body AS BLOB)) FROM records ORDER BY seq").raw(),
    firstFresh: p("SELECT seq FROM records WHERE at >= ? ORDER BY seq LIMIT 1").pluck(),
    setMeta: p("UPDATE meta SET value = ? WHERE key = ?"),
    cursors: p("SELECT sink, acked FROM cursors"),
    addCursor: p("INSERT OR IGNORE INTO cursors (sink, acked) VALUES (?, ?)"),
    setCursor: p("UPDATE cursors SET acked = ? WHERE sink = ?"),
    deleteCursor: p("DELETE FROM cursors WHERE sink = ?"),
    deleteDrops: p("DELETE FROM drops WHERE sink = ?"),
    ackCursor: p("UPDATE cursors SET acked = max(acked, ?), shipped = shipped + ? WHERE sink = ?"),
    addDrop: p(
      "INSERT INTO drops (sink, reason, n) VALUES (?, ?, ?) ON CONFLICT (sink, reason) DO UPDATE SET n = n + excluded.n",
    ),
    addDeadLetterCount: p("UPDATE cursors SET dead_letters = dead_letters + ? WHERE sink = ?"),
    insertDeadLetter: p(
      "INSERT INTO dead_letters (sink, seq, id, body, reason, at) VALUES (?, ?, ?, ?, ?, ?)",
    ),
    expireDeadLetters: p("DELETE FROM dead_letters WHERE at < ?"),
    deadLetterBefore: p("SELECT 1 FROM dead_letters WHERE at < ? LIMIT 1").pluck(),
    deadLetterBytes: p("SELECT count(*) AS n, total(length(CAST(body AS BLOB))) AS b FROM dead_letters"),
    deadLetterBytesBefore: p(
      "SELECT count(*) AS n, total(length(CAST(body AS BLOB))) AS b FROM dead_letters WHERE at < ?",
    ),
    deadLetterSizes: p(
      "SELECT rowid, sink, length(CAST(body AS BLOB)) FROM dead_letters ORDER BY rowid",
    ).raw(),
    deleteDeadLettersUpTo: p("DELETE FROM dead_letters WHERE rowid <= ?"),
    addMeta: p(
      "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = value + excluded.value",
    ),
  };
}
