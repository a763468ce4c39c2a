/**
 * Token PIN entry through the real daemon: identities whose keys are on a
 * SoftHSM2 token made for each test, real TLS peers, and PIN entry programs
 * speaking PINENTRY over the pool socket (the protocol text, "Token PIN
 * entry"; docs/protocol.md, the PINENTRY conversation).
 */
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import type { PinPrompt } from '../../src/client/pool-client';
import { CLIENT_EMAIL, getPki, SERVER_NAME } from '../../harness/pki';
import { startOpensslClient, type Peer } from '../../harness/peers';
import { aliceToPeer, connectFd, filesUnder, PIN, pinProgram, startRevServer, startTokenPool, talk, TOKEN, type TokenPool } from '../../harness/token-pool';
import { rejection } from '../../harness/starttls';
import { waitFor, waitForValue } from '../../harness/wait';
import * as path from 'node:path';
import { buildDir, C_SOURCE_DIR, compileC, describeRun, runProgram } from '../../harness/cbuild';
import { takeFd } from '../../src/addon/node-socket';

const GUARD = { timeout: 90_000 };
const pki = getPki();

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

/** STARTTLS_CLIENT as alice@example.test (key on the token) to `port`. */
const aliceTo = (port: number, p: TokenPool = pool!) => aliceToPeer(p, port);


const exchange = talk;

describe('token PIN entry', () => {
  test('a client identity on the token authenticates to openssl s_server -Verify 1 after a PIN entry program gives the PIN', GUARD, async () => {
    pool = await startTokenPool();
    const program = pinProgram(pool, () => PIN);
    const srv = await sServer();
    const r = await aliceTo(srv.port);
    assert.equal(r.localid, CLIENT_EMAIL);
    assert.equal(await exchange(r.fd), 'cba\n');
    const out = await srv.waitFor(/CN ?= ?alice/);
    assert.match(out, /verify return:1/);

    assert.equal(program.prompts.length, 1);
    const p = program.prompts[0]!;
    assert.equal(p.attempt, 1);
    assert.equal(p.token.label, TOKEN);
    assert.equal(p.token.manufacturer, 'SoftHSM project');
    assert.equal(p.token.model, 'SoftHSM v2');
    assert.match(p.token.serial, /^[0-9a-f]+$/);
    assert.ok(p.timeoutUs > 0);
    assert.ok(Buffer.byteLength(p.prompt) <= 127, p.prompt);
    assert.match(p.prompt, /PIN for token "work"/);
    assert.match(p.prompt, new RegExp(`\\[${process.pid}\\]`), 'the prompt names the requesting process');
    assert.match(p.prompt, /server\.example\.test/, 'the prompt names the remote peer');
  });

  test('a server identity on the token serves openssl s_client after a PIN entry program gives the PIN', GUARD, async () => {
    pool = await startTokenPool();
    const program = pinProgram(pool, () => PIN);
    const listener = net.createServer({ pauseOnConnect: true });
    await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
    const port = (listener.address() as net.AddressInfo).port;
    const accepted = new Promise<net.Socket>((resolve) => listener.once('connection', resolve));
    const cli = startOpensslClient({ port, caPath: pki.ca.certPath, serverName: SERVER_NAME, certPath: pki.client.certPath, keyPath: pki.client.keyPath });
    peers.push(cli);
    const fd = takeFd(await accepted);
    listener.close();
    try {
      const r = await pool.client().starttls({ role: 'server', fd, localid: SERVER_NAME });
      assert.equal(r.localid, SERVER_NAME);
      assert.equal(r.remoteid, CLIENT_EMAIL);
      r.fd.close();
    } finally {
      fd.close();
    }
    await cli.waitFor(/Verify return code: 0 \(ok\)/);
    assert.equal(program.prompts.length, 1);
    assert.equal(program.prompts[0]!.token.label, TOKEN);
  });

  test('an independent C PIN entry program, built from the wire table alone, gets a prompt naming the token and its PIN completes the handshake', GUARD, async () => {
    const dir = buildDir();
    try {
      const exe = compileC(path.join(C_SOURCE_DIR, 'pinentry_probe.c'), dir, { projectHeaders: false });
      pool = await startTokenPool();
      const program = runProgram(exe, [pool.daemon.socket, PIN]);
      await waitFor('the C program registered', () => /PIN entry program registered/.test(pool!.daemon.logs()));
      const srv = await sServer();
      const r = await aliceTo(srv.port);
      assert.equal(await exchange(r.fd), 'cba\n');
      const run = await program;
      assert.equal(run.code, 0, describeRun('pinentry_probe', run));
      assert.match(run.stdout, /^prompt: attempt=1 label=work manuf=SoftHSM project model=SoftHSM v2 serial=[0-9a-f]+ timeout_us=60000000 text=.*PIN for token "work"/m);
      assert.match(run.stdout, /^answered$/m);
    } finally {
      dir.remove();
    }
  });

  test('a wrong PIN, then the right one: two prompts, attempt 1 then 2, the second saying the PIN was wrong', GUARD, async () => {
    pool = await startTokenPool();
    const program = pinProgram(pool, (_p, n) => (n === 1 ? '11111111' : PIN));
    const srv = await sServer();
    const r = await aliceTo(srv.port);
    assert.equal(await exchange(r.fd), 'cba\n');
    assert.deepEqual(
      program.prompts.map((p) => p.attempt),
      [1, 2],
    );
    assert.doesNotMatch(program.prompts[0]!.prompt, /wrong/i);
    assert.match(program.prompts[1]!.prompt, /wrong/i);
  });

  test('an empty PIN cancels: the STARTTLS requester gets ERROR ECANCELED, and no descriptor is left open', GUARD, async () => {
    pool = await startTokenPool();
    const srv = await sServer();
    const fdsBefore = pool.daemon.fdCount();
    const program = pinProgram(pool, () => null);
    const err = await rejection(aliceTo(srv.port));
    assert.equal(err.code, 'ECANCELED');
    assert.match(err.message, /cancelled/);
    assert.equal(program.prompts.length, 1);
    // The program is still registered (its cancel was its next offer): one more fd than before, for its connection
    // and the STARTTLS client's connection.
    await waitForValue('daemon fds', () => pool!.daemon.fdCount(), fdsBefore + 2);
  });

  test('a program that disconnects mid-prompt: the next (shared) program gets the prompt', GUARD, async () => {
    pool = await startTokenPool();
    let first!: ReturnType<typeof pinProgram>;
    first = pinProgram(
      pool,
      () => {
        setImmediate(() => first.client.close());
        return new Promise<never>(() => {});
      },
      { shared: true },
    );
    await waitFor('first registered', () => /PIN entry program registered/.test(pool!.daemon.logs()));
    const second = pinProgram(pool, () => PIN, { shared: true });
    await waitFor('second registered', () => (pool!.daemon.logs().match(/PIN entry program registered/g) ?? []).length === 2);
    const srv = await sServer();
    const r = await aliceTo(srv.port);
    assert.equal(await exchange(r.fd), 'cba\n');
    assert.equal(first.prompts.length, 1);
    assert.equal(second.prompts.length, 1);
  });

  test('the only program disconnects mid-prompt: the STARTTLS requester gets an ERROR', GUARD, async () => {
    pool = await startTokenPool();
    let only!: ReturnType<typeof pinProgram>;
    only = pinProgram(pool, () => {
      setImmediate(() => only.client.close());
      return new Promise<never>(() => {});
    });
    const srv = await sServer();
    const err = await rejection(aliceTo(srv.port));
    assert.equal(err.code, 'EPIPE');
    assert.match(err.message, /left/);
  });

  test('an ERROR in answer to a prompt unregisters the program and is answered with SUCCESS', GUARD, async () => {
    pool = await startTokenPool({ pin: ['wait_for_program: 0'] });
    const program = pinProgram(pool, () => 'stop');
    const srv = await sServer();
    const err = await rejection(aliceTo(srv.port));
    assert.equal(err.code, 'EPIPE');
    await program.done; // resolved: SUCCESS
    // Unregistered: another exclusive program may now offer.
    const next = pinProgram(pool, () => PIN);
    const r = await aliceTo(srv.port);
    assert.equal(await exchange(r.fd), 'cba\n');
    assert.equal(next.prompts.length, 1);
  });

  test('a PIN the pool cannot take (128 bytes) is not sent but wiped: the program\'s offerPinEntry rejects with EINVAL and why, nothing throws unhandled, and the next program unlocks', GUARD, async () => {
    pool = await startTokenPool({ pin: ['wait_for_program: 0'] });
    const client = pool.client();
    const tooLong = new TextEncoder().encode('7'.repeat(128));
    const offer = client.offerPinEntry({ onPrompt: () => tooLong });
    const srv = await sServer();
    const handshake = aliceTo(srv.port);
    const refused = await rejection(offer);
    assert.equal(refused.code, 'EINVAL');
    assert.match(refused.message, /a PIN has at most 127 bytes/);
    assert.ok(tooLong.every((b) => b === 0), 'the PIN bytes are wiped');
    assert.equal(client.isOpen, true, 'the connection stays usable');
    // The program's ERROR stopped its registration: that STARTTLS had no PIN.
    assert.equal((await rejection(handshake)).code, 'EPIPE');
    const next = pinProgram(pool, () => PIN);
    assert.equal(await exchange((await aliceTo(srv.port)).fd), 'cba\n');
    assert.equal(next.prompts.length, 1);
  });

  test('a callback answer that cannot be encoded (a 200-byte localid) fails that STARTTLS with EINVAL, not the process', GUARD, async () => {
    pool = await startTokenPool();
    const srv = await sServer();
    const fd = await connectFd(srv.port);
    try {
      const err = await rejection(pool.client().starttls({ role: 'client', fd, remoteid: SERVER_NAME, onLocalId: () => 'a'.repeat(200) }));
      assert.equal(err.code, 'EINVAL');
      assert.match(err.message, /localid is 200 bytes; at most 127 fit/);
    } finally {
      fd.close();
    }
  });

  test('while an exclusive PIN entry program is registered, a second one gets EBUSY', GUARD, async () => {
    pool = await startTokenPool();
    pinProgram(pool, () => PIN);
    await waitFor('first registered', () => /PIN entry program registered/.test(pool!.daemon.logs()));
    const second = pinProgram(pool, () => PIN);
    const err = await rejection(second.done);
    assert.equal(err.code, 'EBUSY');
    const shared = pinProgram(pool, () => PIN, { shared: true });
    assert.equal((await rejection(shared.done)).code, 'EBUSY');
  });

  test('an exclusive program that answered and left keeps PIN entry for its timeout_us: another program gets EBUSY, the same one may come back', GUARD, async () => {
    const dir = buildDir();
    try {
      const probe = compileC(path.join(C_SOURCE_DIR, 'pinentry_probe.c'), dir, { projectHeaders: false });
      pool = await startTokenPool();
      let first!: ReturnType<typeof pinProgram>;
      first = pinProgram(pool, () => {
        setImmediate(() => first.client.close()); // answer, then leave
        return PIN;
      });
      const srv = await sServer();
      assert.equal(await exchange((await aliceTo(srv.port)).fd), 'cba\n');
      await waitFor('the first program left', () => /PIN entry program unregistered/.test(pool!.daemon.logs()));
      const other = await runProgram(probe, [pool.daemon.socket, PIN]);
      assert.equal(other.code, 1, describeRun('pinentry_probe', other));
      assert.match(other.stdout, /^FAIL: expected a PINENTRY prompt, got cmd 0x00000001 cbid 0 errno 16 \(PIN entry is held by/m);
      pinProgram(pool, () => PIN); // the same executable (this node) coming back
      await waitFor('registered again', () => (pool!.daemon.logs().match(/PIN entry program registered/g) ?? []).length === 2);
    } finally {
      dir.remove();
    }
  });

  test('two SHARED programs: the second is asked when the first lets its timeout pass', GUARD, async () => {
    pool = await startTokenPool({ pin: ['entry_timeout: 1'] });
    const slow = pinProgram(pool, () => new Promise<never>(() => {}), { shared: true });
    await waitFor('first registered', () => /PIN entry program registered/.test(pool!.daemon.logs()));
    const quick = pinProgram(pool, () => PIN, { shared: true });
    await waitFor('second registered', () => (pool!.daemon.logs().match(/PIN entry program registered/g) ?? []).length === 2);
    const srv = await sServer();
    const r = await aliceTo(srv.port);
    assert.equal(await exchange(r.fd), 'cba\n');
    assert.equal(slow.prompts.length, 1);
    assert.equal(quick.prompts.length, 1);
    assert.equal(slow.prompts[0]!.timeoutUs, 1_000_000);
  });

  test('with no PIN entry program registered, the STARTTLS waits pin.wait_for_program and then fails with ENOKEY', GUARD, async () => {
    pool = await startTokenPool({ pin: ['wait_for_program: 0'] });
    const srv = await sServer();
    const err = await rejection(aliceTo(srv.port));
    assert.equal(err.code, 'ENOKEY');
    assert.match(err.message, /tlspool pinentry/);
  });

  test('a program that registers while a STARTTLS waits for one gets the prompt', GUARD, async () => {
    pool = await startTokenPool();
    const srv = await sServer();
    const pending = aliceTo(srv.port);
    await waitFor('waiting for a program', () => /waiting for a PIN entry program/.test(pool!.daemon.logs()));
    const program = pinProgram(pool, () => PIN);
    const r = await pending;
    assert.equal(await exchange(r.fd), 'cba\n');
    assert.equal(program.prompts.length, 1);
  });

  test('ten concurrent handshakes with keys on one locked token: one prompt', GUARD, async () => {
    pool = await startTokenPool({ extra: ['log:', '  level: debug'] });
    const fdsBefore = pool.daemon.fdCount();
    const program = pinProgram(pool, async () => {
      // The person takes a moment: by then all twenty sessions (ten each side) hold their sockets and wait.
      await waitFor('twenty sessions in their handshakes', () => pool!.daemon.fdCount() >= fdsBefore + 40);
      return PIN;
    });
    // s_server serves one connection at a time; the pool's own server side serves all ten at once.
    const listener = net.createServer({ pauseOnConnect: true });
    await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
    const port = (listener.address() as net.AddressInfo).port;
    const accepted: net.Socket[] = [];
    listener.on('connection', (s) => accepted.push(s));
    const serverPool = pool;
    const pairs = await Promise.all(
      Array.from({ length: 10 }, async () => {
        const cfd = await connectFd(port);
        return cfd;
      }),
    );
    await waitFor('ten accepted', () => accepted.length === 10);
    listener.close();
    const server = serverPool.client();
    // The server identity's key is on the same token: its handshakes need the PIN too.
    const results = await Promise.all(
      pairs.map(async (cfd, i) => {
        const sfd = takeFd(accepted[i]!);
        try {
          const [c, s] = await Promise.all([
            pool!.client().starttls({ role: 'client', fd: cfd, localid: CLIENT_EMAIL, remoteid: SERVER_NAME }),
            server.starttls({ role: 'server', fd: sfd, localid: SERVER_NAME }),
          ]);
          return [c, s] as const;
        } finally {
          cfd.close();
          sfd.close();
        }
      }),
    );
    for (const [c, s] of results) {
      assert.equal(c.remoteid, SERVER_NAME);
      assert.equal(s.remoteid, CLIENT_EMAIL);
      c.fd.close();
      s.fd.close();
    }
    assert.equal(program.prompts.length, 1);
  });

  test('after the idle time of the PIN cache the token is locked, and the next handshake prompts again', GUARD, async () => {
    pool = await startTokenPool({ pin: ['cache_idle_ttl: 1'] });
    const program = pinProgram(pool, () => PIN);
    const srv = await sServer();
    assert.equal(await exchange((await aliceTo(srv.port)).fd), 'cba\n');
    assert.equal(program.prompts.length, 1);
    await waitFor('token locked', () => /"msg":"token locked".*"reason":"idle"/.test(pool!.daemon.logs()));
    assert.equal(await exchange((await aliceTo(srv.port)).fd), 'cba\n');
    assert.equal(program.prompts.length, 2);
  });

  test('a PIN from the configuration is used without a prompt, and logged as discouraged without the PIN', GUARD, async () => {
    pool = await startTokenPool({ pin: ['tokens:', `  - { label: ${TOKEN}, pin: "${PIN}" }`] });
    const srv = await sServer();
    assert.equal(await exchange((await aliceTo(srv.port)).fd), 'cba\n');
    assert.match(pool.daemon.logs(), /PIN from the configuration file; this is discouraged/);
    assert.ok(!pool.daemon.logs().includes(PIN));
  });

  test('the PIN appears in no log line, no event and no file of the state directory', GUARD, async () => {
    pool = await startTokenPool({ pin: ['cache_idle_ttl: 1'] });
    pinProgram(pool, (_p, n) => (n === 1 ? `${PIN}9` : PIN));
    const srv = await sServer();
    assert.equal(await exchange((await aliceTo(srv.port)).fd), 'cba\n');
    await waitFor('token locked', () => /"msg":"token locked"/.test(pool!.daemon.logs()));
    const stateDir = pool.daemon.stateDir;
    await pool.daemon.stop();
    assert.ok(!pool.daemon.logs().includes(PIN), 'not in the log (at debug level neither: see the next line)');
    for (const file of filesUnder(stateDir)) {
      const bytes = fs.readFileSync(file);
      assert.equal(bytes.indexOf(PIN), -1, `${file} holds the PIN`);
      assert.equal(bytes.indexOf(Buffer.from(PIN, 'utf16le')), -1, `${file} holds the PIN`);
    }
  });
});

void ({} as PinPrompt);
