/**
 * `npm start` as a person runs it, stopped the way a service manager or a
 * script stops it: SIGTERM to npm's pid. The whole tree npm started (the
 * start script, `tlspool ui --web` and the daemon it hosts) must go, and the
 * socket with it. Setup is skipped (TLSPOOL_SKIP_SETUP=1): it would rebuild
 * the very dist/ these tests run from.
 */
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT, tempDir } from '../../harness/daemon';
import { waitFor } from '../../harness/wait';

const GUARD = { timeout: 60_000 };
let cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.reverse()) c();
  cleanups = [];
});

/** pid → parent pid of every process, from /proc. */
function parents(): Map<number, number> {
  const out = new Map<number, number>();
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      // pid (comm) state ppid …; comm may hold spaces and parentheses.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      out.set(Number(e), ppid);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** The processes below `pid`, with their command lines. */
function descendants(pid: number): Array<{ pid: number; cmdline: string }> {
  const pp = parents();
  const found: number[] = [];
  const walk = (p: number) => {
    for (const [c, parent] of pp) if (parent === p) (found.push(c), walk(c));
  };
  walk(pid);
  return found.map((p) => ({ pid: p, cmdline: cmdline(p) }));
}

function cmdline(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

/** Still there, and not a zombie waiting for its parent. */
function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

describe('npm start', () => {
  test('SIGTERM to npm stops the start script, tlspool ui --web and its daemon, and frees the socket', GUARD, async () => {
    const dir = tempDir();
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const socket = path.join(dir, 'tlspool.sock');
    const env: NodeJS.ProcessEnv = { ...process.env, TLSPOOL_SKIP_SETUP: '1', TLSPOOL_STATE_DIR: path.join(dir, 'state') };
    delete env.DISPLAY;
    delete env.WAYLAND_DISPLAY; // the browser UI, not Electron, whatever this machine has
    const npm = spawn('npm', ['start', '--silent', '--', '--socket', socket], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    npm.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
    npm.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
    const exited = new Promise<number | null>((r) => npm.once('exit', (code) => r(code)));
    let tree: Array<{ pid: number; cmdline: string }> = [];
    cleanups.push(() => {
      // Whatever the test left running, by pid: only processes this test started.
      for (const p of tree) if (alive(p.pid)) process.kill(p.pid, 'SIGKILL');
      if (npm.exitCode === null && npm.signalCode === null) npm.kill('SIGKILL');
    });

    await waitFor('the URL line of npm start', () => {
      if (npm.exitCode !== null) throw new Error(`npm start exited with ${npm.exitCode}:\n${out}${err}`);
      return /^http:\/\/127\.0\.0\.1:\d+\/\?token=/m.test(out);
    });
    assert.match(out, /hosting the daemon in this process/);
    assert.ok(fs.existsSync(socket), 'the daemon listens on the socket');
    tree = descendants(npm.pid!);
    assert.ok(tree.some((p) => p.cmdline.includes('scripts/start.js')), `the start script runs under npm: ${JSON.stringify(tree)}`);
    assert.ok(tree.some((p) => p.cmdline.includes('ui --web')), `tlspool ui --web runs under npm: ${JSON.stringify(tree)}`);

    npm.kill('SIGTERM');
    await exited;
    const left = tree.filter((p) => alive(p.pid));
    assert.deepEqual(left, [], 'nothing npm started is left running');
    assert.equal(fs.existsSync(socket), false, 'the socket is removed');
    assert.match(err, /stopped/);
  });
});
