/**
 * `tlspool pinentry` and `tlspool lock` against the real daemon with keys on
 * a SoftHSM2 token: the PIN typed on a terminal (a real pty from
 * script(1)) or given on a descriptor, and a lock that makes the next
 * handshake ask again.
 */
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { CLIENT_EMAIL, SERVER_NAME } from '../helpers/pki';
import { CLI } from '../helpers/daemon';
import type { Peer } from '../helpers/peers';
import { connectFd, PIN, pinProgram, startRevServer, startTokenPool, talk, TOKEN, type TokenPool } from '../helpers/token-pool';
import { waitFor } from '../helpers/wait';
import type { OwnedFd } from '../../daemon/src/native/ipc';

const GUARD = { timeout: 90_000 };
let pool: TokenPool | undefined;
let peers: Peer[] = [];
afterEach(async () => {
  for (const p of peers) await p.stop();
  peers = [];
  await pool?.stop();
  pool = undefined;
});

async function sServer(): Promise<Peer> {
  const p = await startRevServer();
  peers.push(p);
  return p;
}

async function handshake(port: number): Promise<string> {
  const fd = await connectFd(port);
  let plain: OwnedFd;
  try {
    plain = (await pool!.client().starttls({ role: 'client', fd, localid: CLIENT_EMAIL, remoteid: SERVER_NAME })).fd;
  } finally {
    fd.close();
  }
  return talk(plain);
}

function collect(stream: NodeJS.ReadableStream): () => string {
  let out = '';
  stream.setEncoding('utf8');
  stream.on('data', (s: string) => (out += s));
  return () => out;
}

describe('tlspool pinentry and tlspool lock', () => {
  test('tlspool pinentry --pin-fd 3 --once shows the token and attempt, answers from the descriptor, and leaves', GUARD, async () => {
    pool = await startTokenPool();
    const child = spawn(process.execPath, [CLI, 'pinentry', '--socket', pool.daemon.socket, '--pin-fd', '3', '--once'], {
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    });
    const stdout = collect(child.stdout!);
    const stderr = collect(child.stderr!);
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    await waitFor('registered', () => /PIN entry program registered/.test(pool!.daemon.logs()));
    const srv = await sServer();
    const done = handshake(srv.port);
    await waitFor('the prompt', () => /^prompt: /m.test(stdout()));
    assert.match(stdout(), new RegExp(`^prompt: token "${TOKEN}" \\(SoftHSM project, SoftHSM v2, serial [0-9a-f]+\\), attempt 1: .*PIN for token "${TOKEN}"`, 'm'));
    (child.stdio[3] as NodeJS.WritableStream).write(`${PIN}\n`);
    assert.equal(await done, 'cba\n');
    assert.equal(await exited, 0, stderr());
    assert.ok(!stdout().includes(PIN) && !stderr().includes(PIN));
  });

  test('tlspool pinentry on a terminal: the PIN typed without echo opens the key; Ctrl-C cancels', GUARD, async () => {
    pool = await startTokenPool();
    // script(1) gives the program a real pseudo-terminal as its /dev/tty; what we write to script's stdin is typed there.
    const cmd = `${process.execPath} ${CLI} pinentry --socket ${pool.daemon.socket}`;
    const child = spawn('script', ['-qfec', cmd, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const screen = collect(child.stdout!);
    const srv = await sServer();
    await waitFor('registered', () => /PIN entry program registered/.test(pool!.daemon.logs()));
    const first = handshake(srv.port);
    await waitFor('the prompt on the terminal', () => /PIN: $/.test(screen()));
    assert.match(screen(), new RegExp(`PIN for token "${TOKEN}" \\(SoftHSM project, SoftHSM v2, serial [0-9a-f]+\\), attempt 1: `));
    child.stdin!.write(`${PIN}\r`);
    assert.equal(await first, 'cba\n');
    assert.ok(!screen().includes(PIN), 'the PIN is not echoed');

    // Lock, so the next handshake asks again; this time the person presses Ctrl-C.
    const r = spawnSync(process.execPath, [CLI, 'lock', '--socket', pool.daemon.socket], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const before = screen().length;
    const second = handshake(srv.port).then(
      () => assert.fail('the handshake should fail'),
      (e: Error & { code?: string }) => e,
    );
    await waitFor('the second prompt', () => /PIN: $/.test(screen().slice(before)));
    child.stdin!.write('\x03');
    const err = await second;
    assert.equal(err.code, 'ECANCELED');
    child.kill('SIGTERM');
  });

  test('tlspool lock: the pool forgets the PIN and logs the token out, so the next handshake prompts again', GUARD, async () => {
    pool = await startTokenPool();
    const program = pinProgram(pool, () => PIN);
    const srv = await sServer();
    assert.equal(await handshake(srv.port), 'cba\n');
    assert.equal(await handshake(srv.port), 'cba\n');
    assert.equal(program.prompts.length, 1, 'unlocked: the second handshake did not ask');
    assert.equal(await pool.client().tokenUnlocked({ label: TOKEN }), true);
    const r = spawnSync(process.execPath, [CLI, 'lock', '--socket', pool.daemon.socket], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /locked/);
    await waitFor('the lock in the log', () => /"msg":"token locked","token":"work","reason":"lock"/.test(pool!.daemon.logs()));
    assert.equal(await pool.client().tokenUnlocked({ label: TOKEN }), false);
    assert.equal(await handshake(srv.port), 'cba\n');
    assert.equal(program.prompts.length, 2);
  });
});
