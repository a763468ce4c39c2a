/**
 * `tlspool pinentry` and `tlspool lock` against the real daemon with keys on
 * a SoftHSM2 token: the PIN typed on a terminal (a real pty from
 * script(1)) or given on a descriptor, and a lock that makes the next
 * handshake ask again.
 */
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { CLIENT_EMAIL, SERVER_NAME } from '../../harness/pki';
import { CLI } from '../../harness/daemon';
import { SOFTHSM_MODULE } from '../../harness/softhsm';
import type { Peer } from '../../harness/peers';
import { connectFd, PIN, pinProgram, startRevServer, startTokenPool, talk, TOKEN, type TokenPool } from '../../harness/token-pool';
import { waitFor } from '../../harness/wait';
import type { OwnedFd } from '../../src/addon/ipc';
import { field } from '../../src/protocol/layout';

/** The most bytes a PIN has: the pin field of struct pioc_pinentry, less its NUL. */
const MAX_PIN = field('pioc_pinentry', 'pin').size - 1;
const TOO_LONG = new RegExp(`a PIN has at most ${MAX_PIN} bytes`);

/** A process's peak resident set so far (VmHWM, bytes). */
function peakRss(pid: number): number {
  const m = /^VmHWM:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(m, `VmHWM of ${pid}`);
  return Number(m[1]) * 1024;
}

/** Write to a child's pipe; resolves once the bytes are handed to the kernel. */
function write(stream: NodeJS.WritableStream, data: string | Buffer): Promise<void> {
  return new Promise((resolve, reject) => stream.write(data, (e) => (e ? reject(e) : resolve())));
}

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

  test('tlspool pinentry --pin-fd: a line of 200 bytes, one with a NUL and one of 1 MiB are refused, each with a message and the prompt again; memory stays bounded; the right PIN then unlocks', GUARD, async () => {
    pool = await startTokenPool();
    const child = spawn(process.execPath, [CLI, 'pinentry', '--socket', pool.daemon.socket, '--pin-fd', '3'], {
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    });
    const stdout = collect(child.stdout!);
    const stderr = collect(child.stderr!);
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const pins = child.stdio[3] as NodeJS.WritableStream;
    const prompts = () => (stdout().match(/^prompt: /gm) ?? []).length;
    const refusals = () => stderr().split('\n').filter((l) => /refused/.test(l));
    await waitFor('registered', () => /PIN entry program registered/.test(pool!.daemon.logs()));
    const srv = await sServer();
    const done = handshake(srv.port);
    await waitFor('the prompt', () => prompts() === 1);

    const lines: Array<[Buffer, RegExp]> = [
      [Buffer.from(`${'7'.repeat(200)}\n`), TOO_LONG],
      [Buffer.from('7391\u00005824\n'), /a PIN cannot contain a NUL byte/],
      [Buffer.from(`${'7'.repeat(1 << 20)}\n`), TOO_LONG],
    ];
    for (const [i, [line, message]] of lines.entries()) {
      await write(pins, line);
      await waitFor(`refusal ${i + 1}`, () => refusals().length === i + 1 && prompts() === i + 2);
      assert.match(refusals()[i]!, message);
      assert.equal(child.exitCode, null, stderr());
    }

    // A line far longer than any PIN is read without being kept: the peak
    // resident set grows by a small part of the line (about 2 MiB here),
    // where a reader that kept the line would grow by all of its 64 MiB.
    const before = peakRss(child.pid!);
    const huge = Buffer.alloc(64 << 20, 0x37);
    await write(pins, huge);
    await write(pins, '\n');
    await waitFor('the refusal of the 64 MiB line', () => refusals().length === 4 && prompts() === 5, 60_000);
    assert.match(refusals()[3]!, TOO_LONG);

    await write(pins, `${PIN}\n`);
    assert.equal(await done, 'cba\n');
    const grown = peakRss(child.pid!) - before;
    assert.ok(grown < huge.length / 4, `the peak RSS grew by ${grown} bytes for a ${huge.length}-byte line`);
    assert.ok(!stdout().includes(PIN) && !stderr().includes(PIN));
    child.kill('SIGTERM');
    assert.equal(await exited, 0, stderr());
  });

  test('tlspool pinentry on a terminal: a PIN of 128 bytes or more is refused with a message and asked again; the right one then unlocks', GUARD, async () => {
    pool = await startTokenPool();
    const cmd = `${process.execPath} ${CLI} pinentry --socket ${pool.daemon.socket}`;
    const child = spawn('script', ['-qfec', cmd, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const screen = collect(child.stdout!);
    const exited = new Promise((r) => child.once('exit', r));
    const srv = await sServer();
    await waitFor('registered', () => /PIN entry program registered/.test(pool!.daemon.logs()));
    const done = handshake(srv.port);
    await waitFor('the prompt on the terminal', () => /PIN: $/.test(screen()));
    const before = screen().length;
    child.stdin!.write(`${'7'.repeat(MAX_PIN + 1)}\r`);
    await waitFor('the refusal and the question again', () => TOO_LONG.test(screen().slice(before)) && /PIN: $/.test(screen()));
    child.stdin!.write(`${PIN}\r`);
    assert.equal(await done, 'cba\n');
    assert.doesNotMatch(screen(), /attempt 2/, 'no cut-short PIN reached the pool as a wrong one');
    child.kill('SIGTERM');
    await exited;
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
    // The pool's text once (what, for which program, to which peer), then the token and the attempt: nothing said twice.
    assert.match(screen(), new RegExp(`PIN for token "${TOKEN}" for \\S+ to ${SERVER_NAME}.*\r\n  \\(SoftHSM project, SoftHSM v2, serial [0-9a-f]+; attempt 1\\)\r\nPIN: $`));
    assert.equal(screen().match(/PIN for token/g)?.length, 1, screen());
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

  test('tlspool pinentry on a terminal: a wrong PIN is asked again, few tries left only as the token says, and the right one is confirmed', GUARD, async () => {
    pool = await startTokenPool();
    const cmd = `${process.execPath} ${CLI} pinentry --socket ${pool.daemon.socket}`;
    const child = spawn('script', ['-qfec', cmd, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const screen = collect(child.stdout!);
    const exited = new Promise((r) => child.once('exit', r));
    const srv = await sServer();
    await waitFor('registered', () => /PIN entry program registered/.test(pool!.daemon.logs()));
    const done = handshake(srv.port);
    await waitFor('the prompt', () => /PIN: $/.test(screen()));
    assert.doesNotMatch(screen(), /Wrong PIN|Few tries left|FINAL TRY/, 'nothing to warn of at the first try');
    const before = screen().length;
    child.stdin!.write('11112222\r');
    await waitFor('the prompt again', () => /attempt 2\)\r?\nPIN: $/.test(screen().slice(before)));
    const second = screen().slice(before);
    assert.match(second, /Wrong PIN, try again\./);
    // What the token itself now says of its PIN (SoftHSM: count low after a wrong one).
    const slots = spawnSync('pkcs11-tool', ['--module', SOFTHSM_MODULE, '--list-token-slots'], { encoding: 'utf8', env: { ...process.env, ...pool.hsm.env } });
    assert.equal(slots.status, 0, slots.stderr);
    assert.equal(/Few tries left\./.test(second), /PIN count low/i.test(slots.stdout), `"Few tries left" exactly when the token says so:\n${slots.stdout}`);
    assert.equal(/FINAL TRY/.test(second), /final try/i.test(slots.stdout));
    assert.doesNotMatch(screen(), /PIN accepted/);
    child.stdin!.write(`${PIN}\r`);
    assert.equal(await done, 'cba\n');
    await waitFor('the confirmation', () => /tlspool pinentry: PIN accepted for token "work"/.test(screen()));
    assert.ok(!screen().includes(PIN), 'the PIN is not echoed');
    child.kill('SIGTERM');
    await exited;
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
