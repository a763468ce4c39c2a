/**
 * The state database (`<state_dir>/tlspool.db`): SQLite in WAL mode, so the
 * CLI can change identities while the daemon reads them. Schema changes are
 * numbered migrations, applied in order, once.
 *
 * It holds the trust anchors, so nobody but us and root may be able to
 * change it: the daemon and every CLI command open it through openDb, which
 * refuses an unsafe state directory (util/safe-path) and database files
 * that are symbolic links or that others could write.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { checkPrivateFile, ensurePrivateDir, ourUid, UnsafePathError } from '../util/safe-path';

export type Db = Database.Database;

export const DB_FILE = 'tlspool.db';
/** The files SQLite itself opens beside the database (WAL; a rollback journal before WAL is set). */
const COMPANIONS = ['-wal', '-shm', '-journal'] as const;

/** The state directory or database cannot be used; `path` is the one at fault. */
export class StateError extends Error {
  readonly code = 'ERR_TLSPOOL_STATE';
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(message);
  }
}

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
  // 4: the remote peer's address of each connection (also in \`record\`), to look rows up by it
  `ALTER TABLE connections ADD COLUMN peer TEXT NOT NULL DEFAULT '';`,
];

export function openDb(stateDir: string): Db {
  const uid = ourUid();
  const dir = path.resolve(stateDir);
  try {
    ensurePrivateDir(dir, uid);
  } catch (e) {
    if (!(e instanceof UnsafePathError)) throw e;
    throw new StateError(
      `refusing to use the state directory ${dir}: ${e.message}; ${e.fix}, or choose another directory (--state-dir, state_dir)`,
      e.path,
    );
  }
  const file = path.join(dir, DB_FILE);
  // SQLite opens these by name itself (following a link at the database's
  // own name); the directory is ours alone, so what is checked here stays
  // what SQLite opens.
  for (const f of [file, ...COMPANIONS.map((c) => file + c)]) {
    try {
      checkPrivateFile(f, uid);
    } catch (e) {
      if (!(e instanceof UnsafePathError)) throw e;
      throw new StateError(`refusing to use the state database: ${e.message}; ${e.fix}`, f);
    }
  }
  makePrivate(file, uid);
  let db: Db | undefined;
  try {
    const opened = new Database(file);
    db = opened;
    opened.pragma('busy_timeout = 5000');
    // Before anything writes: a newer schema is neither used nor changed.
    const version = opened.pragma('user_version', { simple: true }) as number;
    if (version > MIGRATIONS.length) {
      throw new StateError(
        `the state database ${file} was written by a newer TLS Pool (schema ${version}, this one knows up to ${MIGRATIONS.length}); ` +
          'run that version, or move the file aside to start this one with an empty state',
        file,
      );
    }
    opened.pragma('journal_mode = WAL');
    opened.pragma('foreign_keys = ON');
    for (let v = version; v < MIGRATIONS.length; v++) {
      opened.transaction(() => {
        opened.exec(MIGRATIONS[v]);
        opened.pragma(`user_version = ${v + 1}`);
      })();
    }
    return opened;
  } catch (e) {
    db?.close();
    if (e instanceof StateError) throw e;
    throw new StateError(`cannot open the state database ${file}: ${sqliteProblem(e, uid)}`, file);
  }
}

/**
 * Create the database file with mode 0600 (SQLite gives its -wal and -shm
 * the same mode), or take group and other access from an existing one:
 * through a descriptor opened without following a symbolic link.
 */
function makePrivate(file: string, uid: number): void {
  const { O_WRONLY, O_RDONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK } = fs.constants;
  let fd: number;
  try {
    fd = fs.openSync(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw fsProblem(file, 'create', e, uid);
    const st = fs.lstatSync(file);
    if ((st.mode & 0o077) === 0) return;
    try {
      fd = fs.openSync(file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    } catch (e2) {
      throw fsProblem(file, 'open', e2, uid);
    }
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new StateError(`refusing to use the state database: ${file} is not a regular file; move it aside`, file);
    if ((st.mode & 0o077) !== 0) fs.fchmodSync(fd, 0o600);
  } catch (e) {
    if (e instanceof StateError) throw e;
    throw fsProblem(file, 'chmod 600', e, uid);
  } finally {
    fs.closeSync(fd);
  }
}

function fsProblem(file: string, what: string, e: unknown, uid: number): StateError {
  const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
  const hint = code === 'EACCES' || code === 'EPERM' ? `; check that uid ${uid} may read and write it and its directory` : '';
  return new StateError(`cannot open the state database ${file}: ${what} failed (${code})${hint}`, file);
}

/** SQLite's words, its code, and what a person could do about it. */
function sqliteProblem(e: unknown, uid: number): string {
  const err = e as Error & { code?: string };
  const code = err.code ?? '';
  const base = code ? `${err.message} (${code})` : err.message;
  if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT')) {
    return `${base}; it is damaged or not a TLS Pool database: restore it from a backup, or move it aside to start with an empty state`;
  }
  if (code.startsWith('SQLITE_CANTOPEN') || code.startsWith('SQLITE_READONLY') || code === 'SQLITE_PERM' || code === 'SQLITE_AUTH') {
    return `${base}; check that uid ${uid} may read and write it and its directory`;
  }
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return `${base}; another process holds it locked`;
  if (code === 'SQLITE_FULL' || code.startsWith('SQLITE_IOERR')) return `${base}; check the disk it is on`;
  return base;
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
