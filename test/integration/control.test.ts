/**
 * The control socket as the desktop app and tools see it: who may connect,
 * JSON-RPC answers to good and broken requests, the live event stream for a
 * real STARTTLS, and the state it reads and changes. Real daemon, real TLS.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ControlClient } from '../../src/client/control-client';
import { Failure } from '../../src/model/failure';
import { RpcErrorCode } from '../../src/contract/control';
import { MAX_LINE } from '../../src/daemon/control/server';
import { collect, connectControl, controlSocketOf, RawLines, waitForItem } from '../../harness/control';
import { startDaemon, tempDir } from '../../harness/daemon';
import type { Peer } from '../../harness/peers';
import { SOFTHSM_MODULE } from '../../harness/softhsm';
import { connectFd, PIN, pinProgram, startRevServer, startTokenPool, talk, TOKEN, type TokenPool } from '../../harness/token-pool';
import { CLIENT_EMAIL, getPki, SERVER_NAME } from '../../harness/pki';
import { Plaintext, type Pool, poolToPool, startExamplePool, TcpListener } from '../../harness/starttls';
import { waitFor, waitForValue } from '../../harness/wait';

/** The Failure a call rejects with. */
async function refusal(p: Promise<unknown>): Promise<Failure> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof Failure, `expected a Failure, got ${String(e)}`);
    return e;
  }
  assert.fail('expected a JSON-RPC error');
}

describe('control socket', () => {
  let pool: Pool;
  let listener: TcpListener;
  let control: ControlClient;

  before(async () => {
    pool = await startExamplePool();
    listener = await TcpListener.open();
    control = await connectControl(pool.daemon);
  });
  after(async () => {
    control.close();
    await listener.close();
    await pool.stop();
  });

  test('lives beside the pool socket, mode 0600, and serves the daemon’s own user', async () => {
    const sock = controlSocketOf(pool.daemon);
    assert.equal(fs.statSync(sock).mode & 0o777, 0o600);
    const status = await control.call('status', {});
    assert.equal(status.pid, pool.daemon.pid);
    assert.equal(status.uid, process.getuid!());
    assert.equal(status.controlSocket, sock);
    assert.equal(status.socket, pool.daemon.socket);
    assert.equal(status.approvalAgent, null);
  });

  test('refuses another uid with one EPERM error line naming who may connect, then closes', () => {
    // Open the way for uid 65534 so that only the daemon's own check stands between.
    const sock = controlSocketOf(pool.daemon);
    fs.chmodSync(path.dirname(sock), 0o711);
    fs.chmodSync(sock, 0o666);
    try {
      const script =
        "const s=require('net').createConnection(process.argv[1]);let d='';s.setEncoding('utf8');" +
        "s.on('data',x=>d+=x);s.on('error',e=>d+='ERR '+e.code);s.on('end',()=>d+='END');s.on('close',()=>process.stdout.write(d));" +
        "s.on('connect',()=>s.write(JSON.stringify({jsonrpc:'2.0',id:1,method:'status'})+'\\n'));";
      const r = spawnSync(process.execPath, ['-e', script, sock], { uid: 65534, gid: 65534, encoding: 'utf8', timeout: 20000 });
      assert.equal(r.status, 0, `the client as uid 65534 failed: ${r.stderr}`);
      const lines = r.stdout.split('\n');
      assert.deepEqual(lines.slice(1), ['END'], `one line and the end, got: ${r.stdout}`);
      const answer = JSON.parse(lines[0]!);
      assert.equal(answer.id, null);
      assert.equal(answer.result, undefined);
      assert.equal(answer.error.code, RpcErrorCode.REFUSED);
      assert.equal(answer.error.data.code, 'EPERM');
      assert.match(answer.error.message, new RegExp(`only uid ${process.getuid!()} .*and root, not uid 65534`));
    } finally {
      fs.chmodSync(sock, 0o600);
      fs.chmodSync(path.dirname(sock), 0o700);
    }
  });

  test('answers bad JSON, bad requests, unknown methods and bad params with their errors, and keeps serving', async () => {
    const fdsBefore = pool.daemon.fdCount();
    const raw = await RawLines.connect(controlSocketOf(pool.daemon));
    raw.send('{"jsonrpc":"2.0","id":1,"method":\n');
    raw.send('[1,2,3]\n');
    raw.send('{"jsonrpc":"2.0","id":3,"method":"no.such.method"}\n');
    raw.send('{"jsonrpc":"2.0","id":4,"method":"connections.list","params":{"limit":0}}\n');
    raw.send('{"jsonrpc":"2.0","id":5,"method":"rules.revoke","params":{"id":"seven"}}\n');
    raw.send('{"jsonrpc":"2.0","id":6,"method":"status","params":{"verbose":true}}\n');
    raw.send('{"jsonrpc":"2.0","id":7,"method":"status"}\n');
    const parse = await raw.line(0);
    assert.equal(parse.id, null);
    assert.equal(parse.error?.code, RpcErrorCode.PARSE_ERROR);
    assert.match(parse.error!.message, /not JSON/);
    assert.equal((await raw.line(1)).error?.code, RpcErrorCode.INVALID_REQUEST);
    const unknown = await raw.line(2);
    assert.equal(unknown.id, 3);
    assert.equal(unknown.error?.code, RpcErrorCode.METHOD_NOT_FOUND);
    assert.match(unknown.error!.message, /no method "no\.such\.method"; the methods are: status, /);
    const [limit, revoke, extra, status] = await Promise.all([raw.line(3), raw.line(4), raw.line(5), raw.line(6)]);
    // Answers may come in any order; each carries its id.
    const byId = new Map([limit, revoke, extra, status].map((a) => [a.id, a]));
    assert.equal(byId.get(4)!.error?.code, RpcErrorCode.INVALID_PARAMS);
    assert.match(byId.get(4)!.error!.message, /limit must be a whole number from 1 to 1000; a page holds at most 1000/);
    assert.match(byId.get(5)!.error!.message, /id must be a whole number/);
    assert.equal(byId.get(6)!.error?.code, RpcErrorCode.INVALID_PARAMS);
    assert.match(byId.get(6)!.error!.message, /unknown param verbose/);
    assert.equal((byId.get(7)!.result as { pid: number }).pid, pool.daemon.pid);
    assert.equal(raw.lines.length, 7, 'one answer per request');
    raw.close();
    await waitForValue('daemon fd count back to its start', () => pool.daemon.fdCount(), fdsBefore);
  });

  test('random lines: every line with an id, or not JSON-RPC at all, gets exactly one answer, and the daemon keeps serving', async () => {
    const fdsBefore = pool.daemon.fdCount();
    const junk = fc.sample(
      fc.oneof(
        fc.string({ maxLength: 200 }),
        fc.jsonValue().map((v) => JSON.stringify(v)),
        fc
          .record({ jsonrpc: fc.constant('2.0'), id: fc.integer({ min: 1 }), method: fc.oneof(fc.string(), fc.constantFrom('status', 'rules.revoke', 'connections.get', 'settings.set', 'approval.decide')), params: fc.jsonValue() })
          .map((v) => JSON.stringify(v)),
      ),
      300,
    );
    // A line is one line; blank lines are skipped by the daemon (and so are not counted).
    const lines = junk.map((l) => l.replace(/[\r\n]/g, ' ')).filter((l) => l.trim() !== '');
    const raw = await RawLines.connect(controlSocketOf(pool.daemon));
    raw.send(lines.join('\n') + '\n');
    raw.send('{"jsonrpc":"2.0","id":"last","method":"status"}\n');
    const last = await waitFor('the answer to the last request', () => raw.lines.find((l) => l.includes('"id":"last"')), 30000);
    assert.equal((JSON.parse(last).result as { pid: number }).pid, pool.daemon.pid);
    assert.equal(raw.lines.length, lines.length + 1, 'one answer per line');
    for (const l of raw.lines) {
      const a = JSON.parse(l) as { jsonrpc: string; result?: unknown; error?: { code: number; message: string } };
      assert.equal(a.jsonrpc, '2.0');
      assert.ok((a.result === undefined) !== (a.error === undefined), `a result or an error: ${l}`);
      if (a.error) assert.ok(a.error.message.length > 0);
    }
    raw.close();
    await waitForValue('daemon fd count back to its start', () => pool.daemon.fdCount(), fdsBefore);
    // Whatever the junk changed is put back for the tests that follow.
    await control.call('settings.set', { pinEntryTimeout: 60, pinCacheIdleTtl: 600, pinCacheMaxTtl: 7200, validationCacheTtl: 300, approvalTimeout: 60, defaultDisclosure: 'allow' });
  });

  test('a request line over 1 MiB gets an error and the connection is closed; others are still served', async () => {
    const raw = await RawLines.connect(controlSocketOf(pool.daemon));
    raw.send(`{"jsonrpc":"2.0","id":1,"method":"status","params":{"x":"${'a'.repeat(MAX_LINE)}"}}\n`);
    const answer = await raw.line(0);
    assert.equal(answer.error?.code, RpcErrorCode.INVALID_REQUEST);
    assert.equal(answer.error?.data?.code, 'EMSGSIZE');
    await waitFor('the daemon closes the connection', () => raw.closed);
    assert.equal((await control.call('status', {})).pid, pool.daemon.pid);
  });

  test('events.subscribe delivers connection-opened, -established and -closed for a real STARTTLS, with the record', async () => {
    const watcher = await connectControl(pool.daemon);
    try {
      const events = collect(watcher, 'event');
      assert.deepEqual(await watcher.call('events.subscribe', {}), { subscribed: true });
      const [c, s] = await poolToPool(pool, listener, { localid: CLIENT_EMAIL, remoteid: SERVER_NAME }, { localid: SERVER_NAME });
      const clientPlain = new Plaintext(c.fd);
      const serverPlain = new Plaintext(s.fd);
      const isClient = (e: (typeof events)[number]) => 'connection' in e && e.connection.role === 'client';
      const opened = await waitForItem('connection-opened', events, (e) => e.type === 'connection-opened' && isClient(e));
      const established = await waitForItem('connection-established', events, (e) => e.type === 'connection-established' && isClient(e));
      assert.ok('connection' in opened && 'connection' in established);
      assert.equal(opened.connection.state, 'handshaking');
      assert.equal(established.connection.id, opened.connection.id);
      assert.equal(established.connection.state, 'established');
      assert.equal(established.connection.localid, CLIENT_EMAIL);
      assert.equal(established.connection.remoteid, SERVER_NAME);
      assert.equal(established.connection.requester.pid, process.pid);
      assert.match(established.connection.peerChain[0]!, /BEGIN CERTIFICATE/);
      await clientPlain.close();
      await serverPlain.close();
      const closed = await waitForItem('connection-closed', events, (e) => e.type === 'connection-closed' && isClient(e));
      assert.ok('connection' in closed);
      assert.equal(closed.connection.id, opened.connection.id);
      assert.equal(closed.connection.state, 'closed');
      assert.ok(closed.connection.endReason);

      // The same connection through connections.list and connections.get, with the server's chain parsed.
      const list = (await control.call('connections.list', { limit: 10 })).connections;
      assert.ok(list.length >= 2);
      assert.ok(list[0]!.id > list[1]!.id, 'most recent first');
      const details = await control.call('connections.get', { id: opened.connection.id });
      assert.equal(details.connection.localid, CLIENT_EMAIL);
      assert.match(details.chain[0]!.subject, /server\.example\.test/);
      assert.ok(details.chain[0]!.altNames.includes(SERVER_NAME));
      assert.match(details.chain[0]!.sha256, /^[0-9a-f]{64}$/i);
      const older = (await control.call('connections.list', { beforeId: opened.connection.id })).connections;
      assert.ok(older.every((r) => r.id < opened.connection.id));
      const missing = await refusal(control.call('connections.get', { id: 999999 }));
      assert.equal(missing.code, 'ENOENT');
    } finally {
      watcher.close();
    }
  });

  test('identities.list shows each identity; setDefault moves the default and tells subscribers', async () => {
    const watcher = await connectControl(pool.daemon);
    try {
      const events = collect(watcher, 'event');
      await watcher.call('events.subscribe', {});
      const before = await control.call('identities.list', {});
      assert.deepEqual(
        before.map((i) => [i.localid, i.isDefault]),
        [
          [CLIENT_EMAIL, false],
          [SERVER_NAME, true],
        ],
      );
      assert.match(before.find((i) => i.localid === SERVER_NAME)!.subject, /server\.example\.test/);
      const after = await control.call('identities.setDefault', { localid: CLIENT_EMAIL });
      assert.equal(after.find((i) => i.isDefault)?.localid, CLIENT_EMAIL);
      await waitForItem('identities-changed', events, (e) => e.type === 'identities-changed');
      await control.call('identities.setDefault', { localid: SERVER_NAME });
      const none = await refusal(control.call('identities.setDefault', { localid: 'nobody.example.test' }));
      assert.equal(none.code, 'ENOENT');
    } finally {
      watcher.close();
    }
  });

  test('identities.remove takes an identity out of the store; removing it again is ENOENT', async () => {
    const left = await control.call('identities.remove', { localid: CLIENT_EMAIL });
    try {
      assert.deepEqual(left.map((i) => i.localid), [SERVER_NAME]);
      assert.deepEqual((await control.call('identities.list', {})).map((i) => i.localid), [SERVER_NAME]);
      assert.equal((await refusal(control.call('identities.remove', { localid: CLIENT_EMAIL }))).code, 'ENOENT');
    } finally {
      const pki = getPki();
      pool.cli(['identity', 'add', CLIENT_EMAIL, '--cert', pki.client.chainPath, '--key', pki.client.keyPath]);
    }
  });

  test('settings.set changes the running values, checks them, and tells subscribers', async () => {
    const start = await control.call('settings.get', {});
    assert.deepEqual(start, {
      pinEntryTimeout: 60,
      pinCacheIdleTtl: 600,
      pinCacheMaxTtl: 7200,
      validationCacheTtl: 300,
      approvalTimeout: 60,
      defaultDisclosure: 'allow',
    });
    const watcher = await connectControl(pool.daemon);
    try {
      const events = collect(watcher, 'event');
      await watcher.call('events.subscribe', {});
      const changed = await control.call('settings.set', { approvalTimeout: 5, defaultDisclosure: 'deny' });
      assert.equal(changed.approvalTimeout, 5);
      assert.equal(changed.defaultDisclosure, 'deny');
      assert.equal(changed.pinEntryTimeout, 60);
      const ev = await waitForItem('settings-changed', events, (e) => e.type === 'settings-changed');
      assert.ok(ev.type === 'settings-changed' && ev.settings.defaultDisclosure === 'deny');
      const bad = await refusal(control.call('settings.set', { approvalTimeout: 0 }));
      assert.equal(bad.code, 'EINVAL');
      assert.match(bad.message, /approvalTimeout must be a whole number from 1 to 86400/);
      assert.deepEqual(await control.call('settings.set', start), start);
    } finally {
      watcher.close();
    }
  });

  test('a second approval agent gets EBUSY naming the first; the first leaving frees the place', async () => {
    const first = await connectControl(pool.daemon);
    const second = await connectControl(pool.daemon);
    const watcher = await connectControl(pool.daemon);
    const events = collect(watcher, 'event');
    await watcher.call('events.subscribe', {});
    try {
      assert.deepEqual(await first.call('approval.register', {}), { registered: true });
      await waitForItem('approval-agent-registered', events, (e) => e.type === 'approval-agent-registered' && e.pid === process.pid);
      const busy = await refusal(second.call('approval.register', {}));
      assert.equal(busy.code, 'EBUSY');
      assert.match(busy.message, new RegExp(`\\[${process.pid}\\]`));
      assert.equal((await control.call('status', {})).approvalAgent?.pid, process.pid);
      first.close();
      // The daemon notices the close on its own time; ask until it has.
      await waitForItem('approval-agent-left', events, (e) => e.type === 'approval-agent-left');
      assert.equal((await control.call('status', {})).approvalAgent, null);
      assert.deepEqual(await second.call('approval.register', {}), { registered: true });
      const notAgent = await refusal(control.call('approval.decide', { id: 'x', decision: 'allow', lifetime: 'once' }));
      assert.equal(notAgent.code, 'EPERM');
    } finally {
      first.close();
      second.close();
      watcher.close();
    }
  });

  test('SIGHUP reloads the file: subscribers hear config-reloaded, and settings changed at run time are back to the file', async () => {
    const watcher = await connectControl(pool.daemon);
    try {
      const events = collect(watcher, 'event');
      await watcher.call('events.subscribe', {});
      await control.call('settings.set', { approvalTimeout: 7 });
      process.kill(pool.daemon.pid, 'SIGHUP');
      const ev = await waitForItem('config-reloaded', events, (e) => e.type === 'config-reloaded');
      assert.ok(ev.type === 'config-reloaded' && ev.configFile === path.join(pool.daemon.dir, 'tlspool.yaml'));
      assert.equal((await control.call('settings.get', {})).approvalTimeout, 60);
    } finally {
      watcher.close();
    }
  });
});

test('--control-socket puts the control socket where it says', async () => {
  const dir = tempDir();
  const elsewhere = path.join(dir, 'ctl', 'my-control.sock');
  const daemon = await startDaemon({ dir, args: ['--control-socket', elsewhere] });
  try {
    assert.equal(fs.existsSync(path.join(dir, 'tlspool-control.sock')), false);
    const c = await ControlClient.connect(elsewhere);
    assert.equal((await c.call('status', {})).controlSocket, elsewhere);
    c.close();
  } finally {
    assert.equal(await daemon.stop(), 0);
    assert.equal(fs.existsSync(elsewhere), false, 'the daemon removes its control socket when it stops');
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

describe('control socket with a PKCS #11 token', () => {
  let pool: TokenPool;
  let server: Peer;

  before(async () => {
    pool = await startTokenPool();
    server = await startRevServer();
  });
  after(async () => {
    await server.stop();
    await pool.stop();
  });

  test('PIN events name the token and the outcome, never the PIN; tokens.list and tokens.lock see what the pool holds', async () => {
    const control = await connectControl(pool.daemon);
    try {
      const events = collect(control, 'event');
      await control.call('events.subscribe', {});
      const program = pinProgram(pool, () => PIN);
      await waitForItem('pinentry-registered', events, (e) => e.type === 'pinentry-registered' && e.pid === process.pid);
      assert.deepEqual(
        (await control.call('status', {})).pinEntry.map((p) => p.pid),
        [process.pid],
      );
      const before = await control.call('tokens.list', {});
      const work = before.find((t) => t.label === TOKEN);
      assert.ok(work, `token ${TOKEN} is listed: ${JSON.stringify(before)}`);
      assert.equal(work.module, SOFTHSM_MODULE);
      assert.equal(work.unlocked, false);

      const fd = await connectFd(server.port);
      try {
        const r = await pool.client().starttls({ role: 'client', fd, localid: CLIENT_EMAIL, remoteid: SERVER_NAME });
        assert.equal(await talk(r.fd), 'cba\n');
      } finally {
        fd.close();
      }
      const asked = await waitForItem('pin-requested', events, (e) => e.type === 'pin-requested');
      assert.ok(asked.type === 'pin-requested' && asked.token.label === TOKEN && asked.attempt === 1);
      const answered = await waitForItem('pin-answered', events, (e) => e.type === 'pin-answered');
      assert.ok(answered.type === 'pin-answered' && answered.outcome === 'pin');
      assert.equal(JSON.stringify(events).includes(PIN), false, 'no event carries the PIN');

      assert.equal((await control.call('tokens.list', {})).find((t) => t.label === TOKEN)?.unlocked, true);
      assert.equal((await control.call('status', {})).unlockedTokens, 1);
      assert.deepEqual(await control.call('tokens.lock', { label: TOKEN }), { locked: 1 });
      await waitForItem('tokens-locked', events, (e) => e.type === 'tokens-locked' && e.count === 1);
      assert.equal((await control.call('tokens.list', {})).find((t) => t.label === TOKEN)?.unlocked, false);

      program.client.close();
      await waitForItem('pinentry-left', events, (e) => e.type === 'pinentry-left' && e.pid === process.pid);
    } finally {
      control.close();
    }
  });
});
