/**
 * Where the daemon keeps its state and its sockets, and who else could
 * change them: the real daemon and the real CLI against state directories,
 * databases and ancestor directories that another user (uid 65534) could
 * tamper with. Run as root, so that files can be given to that uid.
 */
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { CLI, tempDir } from '../../harness/daemon';

const OTHER = 65534;

interface Outcome {
  code: number | null;
  stderr: string;
  /** The daemon got as far as listening (then it was stopped). */
  listened: boolean;
}

/** Run `tlspool daemon` until it exits or starts listening (then stop it). */
function daemon(socket: string, stateDir: string): Promise<Outcome> {
  const proc = spawn(process.execPath, [CLI, 'daemon', '--socket', socket, '--state-dir', stateDir], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  let listened = false;
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (s: string) => {
    stderr += s;
    if (!listened && /"msg":"listening"/.test(stderr)) {
      listened = true;
      // The signal handlers are installed just after that line is written.
      setTimeout(() => proc.kill('SIGTERM'), 200);
    }
  });
  const timer = setTimeout(() => proc.kill('SIGKILL'), 20000);
  return new Promise((resolve) =>
    proc.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, listened });
    }),
  );
}

/** The daemon must refuse to start: exit 1, one line matching `message`, no socket. */
async function assertRefused(socket: string, stateDir: string, message: RegExp): Promise<string> {
  const r = await daemon(socket, stateDir);
  assert.equal(r.listened, false, `the daemon started:\n${r.stderr}`);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, message);
  assert.equal(fs.existsSync(socket), false, 'no socket is created');
  return r.stderr;
}

function cli(args: string[], opts: { uid?: number; env?: NodeJS.ProcessEnv } = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    timeout: 30000,
    env: { ...process.env, ...opts.env },
    ...(opts.uid === undefined ? {} : { uid: opts.uid, gid: opts.uid }),
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const re = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('state directory and ancestor safety', () => {
  const made: string[] = [];
  /** A fresh private directory under /tmp, removed after the test with all it holds. */
  function scratch(): string {
    const d = tempDir();
    made.push(d);
    return d;
  }
  afterEach(() => {
    for (const d of made.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });

  test('a state directory owned by another uid is refused by the daemon and by the CLI, and nothing is written there', async () => {
    const base = scratch();
    const state = path.join(base, 'state');
    fs.mkdirSync(state, { mode: 0o700 });
    fs.chownSync(state, OTHER, OTHER);
    const message = new RegExp(`refusing to use the state directory ${re(state)}: ${re(state)} belongs to uid ${OTHER}, not to us \\(uid 0\\) or root`);
    await assertRefused(path.join(base, 'pool.sock'), state, message);
    const r = cli(['trust', 'list', '--state-dir', state]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, message);
    assert.deepEqual(fs.readdirSync(state), []);
  });

  test('a tlspool.db owned by another uid is refused', async () => {
    const base = scratch();
    const state = path.join(base, 'state');
    fs.mkdirSync(state, { mode: 0o700 });
    const db = path.join(state, 'tlspool.db');
    new Database(db).close();
    fs.chownSync(db, OTHER, OTHER);
    await assertRefused(path.join(base, 'pool.sock'), state, new RegExp(`${re(db)} belongs to uid ${OTHER}, not to us \\(uid 0\\) or root`));
  });

  test('a state directory that others can write (0777) is refused', async () => {
    const base = scratch();
    const state = path.join(base, 'state');
    fs.mkdirSync(state);
    fs.chmodSync(state, 0o777);
    await assertRefused(
      path.join(base, 'pool.sock'),
      state,
      new RegExp(`refusing to use the state directory ${re(state)}: others can write there \\(mode 777\\)`),
    );
    assert.deepEqual(fs.readdirSync(state), []);
  });

  test('a symbolic link at tlspool.db is refused; its target keeps its mode, and no database is made outside', async () => {
    const base = scratch();
    const state = path.join(base, 'state');
    const outside = path.join(base, 'outside');
    fs.mkdirSync(state, { mode: 0o700 });
    fs.mkdirSync(outside);
    const db = path.join(state, 'tlspool.db');

    const existing = path.join(outside, 'notes.txt');
    fs.writeFileSync(existing, 'not yours to chmod\n');
    fs.chmodSync(existing, 0o644);
    fs.symlinkSync(existing, db);
    const message = new RegExp(`${re(db)} is a symbolic link`);
    await assertRefused(path.join(base, 'pool.sock'), state, message);
    assert.equal(fs.statSync(existing).mode & 0o7777, 0o644);
    assert.equal(fs.readFileSync(existing, 'utf8'), 'not yours to chmod\n');

    fs.unlinkSync(db);
    const absent = path.join(outside, 'made.db');
    fs.symlinkSync(absent, db);
    await assertRefused(path.join(base, 'pool.sock'), state, message);
    assert.equal(cli(['trust', 'list', '--state-dir', state]).code, 1);
    assert.deepEqual(fs.readdirSync(outside), ['notes.txt']);
  });

  for (const suffix of ['-wal', '-shm']) {
    test(`a symbolic link at tlspool.db${suffix} is refused and nothing is made at its target`, async () => {
      const base = scratch();
      const state = path.join(base, 'state');
      const outside = path.join(base, 'outside');
      fs.mkdirSync(state, { mode: 0o700 });
      fs.mkdirSync(outside);
      const link = path.join(state, `tlspool.db${suffix}`);
      fs.symlinkSync(path.join(outside, 'elsewhere'), link);
      await assertRefused(path.join(base, 'pool.sock'), state, new RegExp(`${re(link)} is a symbolic link`));
      assert.deepEqual(fs.readdirSync(outside), []);
      assert.deepEqual(fs.readdirSync(state), [`tlspool.db${suffix}`]);
    });
  }

  test('an ancestor that others can write, without the sticky bit, is refused for the socket and for the state directory', async () => {
    const base = scratch();
    const open = path.join(base, 'open');
    fs.mkdirSync(open);
    fs.chmodSync(open, 0o777);
    const run = path.join(open, 'run');
    fs.mkdirSync(run, { mode: 0o700 });
    const problem = `${re(open)} can be written by others \\(mode 777\\) and has no sticky bit`;

    const socket = path.join(run, 'pool.sock');
    await assertRefused(socket, path.join(base, 'state'), new RegExp(`refusing to put the socket in ${re(run)}: ${problem}`));
    await assertRefused(path.join(base, 'pool.sock'), path.join(run, 'state'), new RegExp(`refusing to use the state directory ${re(path.join(run, 'state'))}: ${problem}`));
    assert.deepEqual(fs.readdirSync(run), [], 'nothing is created under the unsafe ancestor');
  });

  test('a sticky ancestor that others can write is accepted below our own directory, refused below another uid\'s', async () => {
    const base = scratch();
    const sticky = path.join(base, 'sticky');
    fs.mkdirSync(sticky);
    fs.chmodSync(sticky, 0o1777);

    const mine = path.join(sticky, 'mine');
    fs.mkdirSync(mine, { mode: 0o700 });
    const ok = await daemon(path.join(mine, 'pool.sock'), path.join(mine, 'state'));
    assert.equal(ok.listened, true, ok.stderr);
    assert.equal(ok.code, 0, ok.stderr);

    // Another uid's directory in the sticky one: that uid can rename what is below it.
    const theirs = path.join(sticky, 'theirs');
    fs.mkdirSync(theirs, { mode: 0o755 });
    fs.chownSync(theirs, OTHER, OTHER);
    const below = path.join(theirs, 'mine');
    fs.mkdirSync(below, { mode: 0o700 });
    await assertRefused(
      path.join(below, 'pool.sock'),
      path.join(mine, 'state'),
      new RegExp(`refusing to put the socket in ${re(below)}: ${re(theirs)} belongs to uid ${OTHER}, not to us \\(uid 0\\) or root`),
    );

    // Another uid's symbolic link in the sticky one: that uid can point it elsewhere.
    const link = path.join(sticky, 'link');
    fs.symlinkSync(mine, link);
    fs.lchownSync(link, OTHER, OTHER);
    await assertRefused(
      path.join(link, 'pool.sock'),
      path.join(mine, 'state'),
      new RegExp(`refusing to put the socket in ${re(link)}: ${re(link)} belongs to uid ${OTHER}`),
    );
  });

  test('a database written by a newer TLS Pool is refused and left as it was', async () => {
    const base = scratch();
    const state = path.join(base, 'state');
    fs.mkdirSync(state, { mode: 0o700 });
    const file = path.join(state, 'tlspool.db');
    const db = new Database(file);
    db.exec('CREATE TABLE from_the_future (x)');
    db.pragma('user_version = 999');
    db.close();
    fs.chmodSync(file, 0o600);
    const message = new RegExp(
      `the state database ${re(file)} was written by a newer TLS Pool \\(schema 999, this one knows up to \\d+\\); `,
    );
    await assertRefused(path.join(base, 'pool.sock'), state, message);
    const r = cli(['identity', 'list', '--state-dir', state]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, message);

    const after = new Database(file, { readonly: true });
    assert.equal(after.pragma('user_version', { simple: true }), 999);
    assert.equal(after.pragma('journal_mode', { simple: true }), 'delete', 'not switched to WAL');
    assert.deepEqual(
      after.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all(),
      ['from_the_future'],
    );
    after.close();
  });

  test('a damaged database: the error names the file', async () => {
    const base = scratch();
    const state = path.join(base, 'state');
    fs.mkdirSync(state, { mode: 0o700 });
    const file = path.join(state, 'tlspool.db');
    fs.writeFileSync(file, 'this is not an SQLite database\n'.repeat(200), { mode: 0o600 });
    await assertRefused(path.join(base, 'pool.sock'), state, new RegExp(`cannot open the state database ${re(file)}: file is not a database`));
  });

  test('an unreadable database: the error names the file', () => {
    // The CLI as uid 65534, in its own state directory, on a database only root can read.
    const base = scratch();
    fs.chmodSync(base, 0o755);
    const state = path.join(base, 'state');
    fs.mkdirSync(state, { mode: 0o700 });
    const file = path.join(state, 'tlspool.db');
    new Database(file).close();
    fs.chmodSync(file, 0o600);
    fs.chownSync(state, OTHER, OTHER);
    const r = cli(['trust', 'list', '--state-dir', state], { uid: OTHER, env: { HOME: base, XDG_CONFIG_HOME: '', TLSPOOL_CONFIG: '' } });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`cannot open the state database ${re(file)}: `));
  });
});
