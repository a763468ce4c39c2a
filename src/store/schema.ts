/**
 * The state database's schema, as its history: migration N+1 takes a
 * database at user_version N to N+1. Append only: a migration that shipped
 * never changes, and the tables' owners (identities.ts, connection-log.ts,
 * the daemon's disclosure rules) read and write what these create.
 */
export const MIGRATIONS: readonly string[] = [
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
  // 4: the remote peer's address of each connection (also in `record`), to look rows up by it
  `ALTER TABLE connections ADD COLUMN peer TEXT NOT NULL DEFAULT '';`,
];
