/**
 * The state database (`<state_dir>/tlspool.db`): SQLite in WAL mode, so the
 * CLI can change identities while the daemon reads them. Schema changes are
 * numbered migrations, applied in order, once.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';

export type Db = Database.Database;

const MIGRATIONS: readonly string[] = [
  // 1: local identities and trust anchors
  `CREATE TABLE identities (
     localid     TEXT PRIMARY KEY,
     chain_pem   TEXT NOT NULL,
     key_ref     TEXT NOT NULL,
     is_default  INTEGER NOT NULL DEFAULT 0,
     added_at    TEXT NOT NULL
   );
   CREATE TABLE trust_anchors (
     sha256      TEXT PRIMARY KEY,
     subject     TEXT NOT NULL,
     cert_pem    TEXT NOT NULL,
     added_at    TEXT NOT NULL
   );`,
  // 2: the connection log; `record` is the whole ConnectionRecord as JSON
  `CREATE TABLE connections (
     id          INTEGER PRIMARY KEY,
     started_at  TEXT NOT NULL,
     state       TEXT NOT NULL,
     role        TEXT NOT NULL,
     localid     TEXT NOT NULL,
     remoteid    TEXT NOT NULL,
     record      TEXT NOT NULL
   );`,
  // 3: remembered disclosure choices ('forever'; 'restart' ones live in memory)
  `CREATE TABLE disclosure_rules (
     id          INTEGER PRIMARY KEY,
     localid     TEXT NOT NULL,
     remote      TEXT NOT NULL,
     decision    TEXT NOT NULL CHECK (decision IN ('allow', 'deny')),
     created_at  TEXT NOT NULL,
     UNIQUE (localid, remote)
   );`,
];

export function openDb(stateDir: string): Db {
  fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const file = path.join(stateDir, 'tlspool.db');
  const db = new Database(file);
  fs.chmodSync(file, 0o600);
  db.pragma('journal_mode = WAL');
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  const version = db.pragma('user_version', { simple: true }) as number;
  for (let v = version; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
  return db;
}

/**
 * True when another connection (the CLI) changed the database since the
 * last call: how the daemon notices edits without a restart.
 */
export function changeWatcher(db: Db): () => boolean {
  // Asked before every STARTTLS: prepared once.
  const version = db.prepare('PRAGMA data_version').pluck();
  let seen = version.get() as number;
  return () => {
    const now = version.get() as number;
    if (now === seen) return false;
    seen = now;
    return true;
  };
}
