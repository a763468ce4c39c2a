/**
 * Disclosure approval: before the pool shows a local identity to a remote
 * peer, a remembered rule, the approval agent (a ControlClient here, as the
 * desktop app would be) or `disclosure.default` decides. Real daemon, real
 * `openssl s_server -Verify 1` asking for a client certificate, real
 * `openssl s_client` against a pool server.
 */
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import type { ControlClient } from '../../src/client/control-client';
import { PoolClient } from '../../src/client/pool-client';
import type { ApprovalRequest } from '../../src/model/disclosure';
import { Errno } from '../../src/protocol';
import { collect, connectControl, waitForItem } from '../../harness/control';
import { CLI } from '../../harness/daemon';
import { startOpensslClient, startOpensslServer, type Peer } from '../../harness/peers';
import { CLIENT_EMAIL, getPki, SERVER_NAME, type TestPki } from '../../harness/pki';
import { Plaintext, type Pool, rejection, startExamplePool, TcpListener, tcpConnect } from '../../harness/starttls';

describe('disclosure approval', () => {
  let pki: TestPki;
  let pool: Pool;
  let control: ControlClient;
  let server: Peer;
  const peers: Peer[] = [];

  before(async () => {
    pki = getPki();
    // server.example.test is the default identity: the one proposed first.
    pool = await startExamplePool();
    control = await connectControl(pool.daemon);
  });
  after(async () => {
    control.close();
    await pool.stop();
  });
  beforeEach(async () => {
    server = await startOpensslServer({ certPath: pki.server.chainPath, keyPath: pki.server.keyPath, caPath: pki.ca.certPath, clientCert: 'require' });
    peers.push(server);
  });
  afterEach(async () => {
    await Promise.all(peers.splice(0).map((p) => p.stop()));
    for (const r of await control.call('rules.list', {})) await control.call('rules.revoke', { id: r.id });
  });

  /** A pool client STARTTLS to the s_server; the application accepts what is proposed unless `onLocalId` says otherwise. */
  async function connect(client: PoolClient = pool.client, onLocalId?: (p: { localid: string }) => string) {
    const fd = await tcpConnect(server.port);
    try {
      return await client.starttls({ role: 'client', fd, remoteid: SERVER_NAME, onLocalId });
    } finally {
      fd.close();
    }
  }

  /** An approval agent: registered, subscribed to events, collecting questions and withdrawals. */
  async function agent() {
    const c = await connectControl(pool.daemon);
    const asked = collect(c, 'approval.ask');
    const withdrawn = collect(c, 'approval.withdraw');
    const events = collect(c, 'event');
    await c.call('events.subscribe', {});
    await c.call('approval.register', {});
    return { c, asked, withdrawn, events };
  }

  /**
   * The client showed no certificate and the server refused it. With TLS 1.3
   * the client's handshake may finish first and learn of the refusal only on
   * its first read, so the STARTTLS may succeed (showing no identity) or fail.
   */
  async function refusedByServer(p: Promise<{ localid: string; fd: import('../../src/addon/ipc').OwnedFd }>): Promise<void> {
    const r = await p.catch(() => undefined);
    if (r) {
      assert.equal(r.localid, '', 'no identity was shown');
      const plain = new Plaintext(r.fd);
      await plain.untilEnd();
      plain.destroy();
    }
    await server.waitFor(/peer did not return a certificate|certificate required/i);
    assert.doesNotMatch(server.output(), /CN = (alice|server\.example\.test)/);
  }

  async function shows(r: { fd: import('../../src/addon/ipc').OwnedFd }, cn: RegExp): Promise<void> {
    const plain = new Plaintext(r.fd);
    plain.write('hello through the pool\n');
    await server.waitFor('hello through the pool');
    assert.match(server.output(), cn);
    await plain.close();
  }

  test('the agent is asked with the candidates; allow + forever with another identity completes, is not asked again, and asks again once revoked', async () => {
    const a = await agent();
    try {
      const first = connect();
      const q: ApprovalRequest = await waitForItem('approval.ask', a.asked, () => true);
      assert.equal(q.role, 'client');
      assert.equal(q.remote, SERVER_NAME);
      assert.equal(q.localid, SERVER_NAME);
      assert.deepEqual(q.candidates, [SERVER_NAME, CLIENT_EMAIL]);
      assert.deepEqual(q.selectors, [SERVER_NAME, '.example.test', '.test', '*']);
      assert.equal(q.requester.pid, process.pid);
      assert.ok(Date.parse(q.expiresAt) > Date.parse(q.askedAt));
      await waitForItem('approval-asked event', a.events, (e) => e.type === 'approval-asked' && e.approval.id === q.id);
      await a.c.call('approval.decide', { id: q.id, decision: 'allow', localid: CLIENT_EMAIL, lifetime: 'forever' });
      const r1 = await first;
      assert.equal(r1.localid, CLIENT_EMAIL, 'the identity the agent chose is shown');
      await shows(r1, /CN = alice/);
      const decided = await waitForItem('approval-decided', a.events, (e) => e.type === 'approval-decided' && e.id === q.id);
      assert.ok(decided.type === 'approval-decided' && decided.decision === 'allow' && decided.by === 'agent' && decided.localid === CLIENT_EMAIL);

      const rules = await control.call('rules.list', {});
      assert.equal(rules.length, 1);
      assert.deepEqual(
        { localid: rules[0]!.localid, remote: rules[0]!.remote, decision: rules[0]!.decision, lifetime: rules[0]!.lifetime },
        { localid: CLIENT_EMAIL, remote: SERVER_NAME, decision: 'allow', lifetime: 'forever' },
      );

      const r2 = await connect();
      assert.equal(r2.localid, CLIENT_EMAIL);
      await shows(r2, /CN = alice/);
      assert.equal(a.asked.length, 1, 'a remembered choice is not asked again');

      await control.call('rules.revoke', { id: rules[0]!.id });
      const third = connect();
      const q3 = await waitForItem('the question again', a.asked, (x) => x.id !== q.id);
      await a.c.call('approval.decide', { id: q3.id, decision: 'allow', localid: CLIENT_EMAIL, lifetime: 'once' });
      await shows(await third, /CN = alice/);
      assert.deepEqual(await control.call('rules.list', {}), [], "'once' is not remembered");
    } finally {
      a.c.close();
    }
  });

  test('deny: the client shows no certificate, and a server that requires one refuses', async () => {
    const a = await agent();
    try {
      const attempt = connect();
      const q = await waitForItem('approval.ask', a.asked, () => true);
      await a.c.call('approval.decide', { id: q.id, decision: 'deny', lifetime: 'once' });
      await refusedByServer(attempt);
    } finally {
      a.c.close();
    }
  });

  test('unanswered within disclosure.approval_timeout: withdrawn from the agent and denied', async () => {
    await control.call('settings.set', { approvalTimeout: 1 });
    const a = await agent();
    try {
      const attempt = connect();
      const q = await waitForItem('approval.ask', a.asked, () => true);
      const w = await waitForItem('approval.withdraw', a.withdrawn, (x) => x.id === q.id);
      assert.match(w.reason, /no answer within 1 s/);
      const decided = await waitForItem('approval-decided', a.events, (e) => e.type === 'approval-decided' && e.id === q.id);
      assert.ok(decided.type === 'approval-decided' && decided.decision === 'deny' && decided.by === 'timeout');
      await refusedByServer(attempt);
      const late = await a.c.call('approval.decide', { id: q.id, decision: 'allow', lifetime: 'once' }).catch((e: { errno?: string }) => e);
      assert.equal((late as { code?: string }).code, 'ENOENT');
    } finally {
      a.c.close();
      await control.call('settings.set', { approvalTimeout: 60 });
    }
  });

  test('the application disconnecting while the agent is asked withdraws the question', async () => {
    const a = await agent();
    const app = PoolClient.connect(pool.daemon.socket);
    try {
      const attempt = connect(app).catch(() => undefined);
      const q = await waitForItem('approval.ask', a.asked, () => true);
      app.close();
      const w = await waitForItem('approval.withdraw', a.withdrawn, (x) => x.id === q.id);
      assert.ok(w.reason.length > 0);
      const decided = await waitForItem('approval-decided', a.events, (e) => e.type === 'approval-decided' && e.id === q.id);
      assert.ok(decided.type === 'approval-decided' && decided.by === 'withdrawn');
      await attempt;
      assert.equal((await control.call('status', {})).pendingApprovals, 0);
    } finally {
      app.close();
      a.c.close();
    }
  });

  test('the agent leaving mid-question: the question falls back to disclosure.default', async () => {
    const a = await agent();
    const attempt = connect(pool.client, (p) => (p.localid === CLIENT_EMAIL ? CLIENT_EMAIL : ''));
    await waitForItem('approval.ask', a.asked, () => true);
    a.c.close();
    await shows(await attempt, /CN = alice/);
  });

  test('no agent: disclosure.default allow shows the identity; deny shows none', async () => {
    const alice = (p: { localid: string }) => (p.localid === CLIENT_EMAIL ? CLIENT_EMAIL : '');
    const r = await connect(pool.client, alice);
    assert.equal(r.localid, CLIENT_EMAIL);
    await shows(r, /CN = alice/);
    await control.call('settings.set', { defaultDisclosure: 'deny' });
    // A fresh server, so that its output is about this connection only.
    server = await startOpensslServer({ certPath: pki.server.chainPath, keyPath: pki.server.keyPath, caPath: pki.ca.certPath, clientCert: 'require' });
    peers.push(server);
    try {
      await refusedByServer(connect(pool.client, alice));
    } finally {
      await control.call('settings.set', { defaultDisclosure: 'allow' });
    }
  });

  test('a denied pool server refuses the handshake with EACCES saying the disclosure was denied', async () => {
    const listener = await TcpListener.open();
    const a = await agent();
    try {
      const c = startOpensslClient({ port: listener.port, serverName: SERVER_NAME, caPath: pki.ca.certPath });
      peers.push(c);
      const fd = await listener.accept();
      const attempt = rejection(pool.client.starttls({ role: 'server', fd, localid: SERVER_NAME }));
      const q = await waitForItem('approval.ask', a.asked, () => true);
      assert.equal(q.role, 'server');
      assert.match(q.remote, /^127\.0\.0\.1:\d+$/);
      assert.deepEqual(q.selectors, ['127.0.0.1', '*']);
      fd.close();
      await a.c.call('approval.decide', { id: q.id, decision: 'deny', lifetime: 'once' });
      const e = await attempt;
      assert.equal(e.errno, Errno.EACCES);
      assert.match(e.message, /showing server\.example\.test to .* was denied/);
    } finally {
      a.c.close();
      await listener.close();
    }
  });

  test("a choice until restart is kept by the daemon, not in the state database, and is used for the next connection", async () => {
    const a = await agent();
    try {
      const first = connect();
      const q = await waitForItem('approval.ask', a.asked, () => true);
      await a.c.call('approval.decide', { id: q.id, decision: 'allow', localid: CLIENT_EMAIL, remote: '*', lifetime: 'restart' });
      await shows(await first, /CN = alice/);
      const [rule] = await control.call('rules.list', {});
      assert.equal(rule?.lifetime, 'restart');
      assert.equal(rule?.remote, '*');
      assert.match(pool.cli(['rules', 'list']), /no disclosure rules remembered/);
      server = await startOpensslServer({ certPath: pki.server.chainPath, keyPath: pki.server.keyPath, caPath: pki.ca.certPath, clientCert: 'require' });
      peers.push(server);
      await shows(await connect(), /CN = alice/);
      assert.equal(a.asked.length, 1);
      const bad = await a.c.call('approval.decide', { id: q.id, decision: 'allow', lifetime: 'once' }).catch((e: { errno?: string }) => e);
      assert.equal((bad as { code?: string }).code, 'ENOENT', 'a question is answered once');
    } finally {
      a.c.close();
    }
  });

  test('tlspool rules list shows remembered rules and tlspool rules revoke forgets one', async () => {
    const a = await agent();
    try {
      const attempt = connect();
      const q = await waitForItem('approval.ask', a.asked, () => true);
      await a.c.call('approval.decide', { id: q.id, decision: 'deny', remote: '.example.test', lifetime: 'forever' });
      await refusedByServer(attempt);
    } finally {
      a.c.close();
    }
    const listed = pool.cli(['rules', 'list']);
    const m = /^(\d+)\s+deny\s+server\.example\.test -> \.example\.test/m.exec(listed);
    assert.ok(m, `the rule is listed: ${listed}`);
    const json = JSON.parse(pool.cli(['rules', 'list', '--json'])) as Array<{ id: number; remote: string }>;
    assert.deepEqual(
      json.map((r) => r.remote),
      ['.example.test'],
    );
    assert.match(pool.cli(['rules', 'revoke', m[1]!]), /revoked rule \d+: deny showing server\.example\.test to \.example\.test/);
    assert.match(pool.cli(['rules', 'list']), /no disclosure rules remembered/);
    assert.deepEqual(await control.call('rules.list', {}), [], 'the daemon sees the revocation');
    const missing = spawnSync(process.execPath, [CLI, 'rules', 'revoke', m[1]!, '--state-dir', pool.stateDir], { encoding: 'utf8' });
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /no disclosure rule \d+; see the ids with: tlspool rules list/);
    const helpRun = spawnSync(process.execPath, [CLI, 'rules', 'revoke', '--help'], { encoding: 'utf8' });
    assert.equal(helpRun.status, 0);
    assert.match(helpRun.stdout, /Usage: tlspool rules revoke ID/);
  });

  test('an identity the application names is never swapped for another that a rule allows', async () => {
    const a = await agent();
    try {
      // A person once chose alice for this server, forever.
      const first = connect();
      const q = await waitForItem('approval.ask', a.asked, () => true);
      await a.c.call('approval.decide', { id: q.id, decision: 'allow', localid: CLIENT_EMAIL, lifetime: 'forever' });
      await shows(await first, /CN = alice/);

      // Now the application names server.example.test itself: that rule is not about it, so the agent is asked, about it alone.
      const before = server.output().length;
      const fd = await tcpConnect(server.port);
      const named = pool.client.starttls({ role: 'client', fd, localid: SERVER_NAME, remoteid: SERVER_NAME });
      named.finally(() => fd.close()).catch(() => {});
      const q2 = await waitForItem('the question about the named identity', a.asked, (x) => x.id !== q.id);
      assert.equal(q2.localid, SERVER_NAME);
      assert.deepEqual(q2.candidates, [SERVER_NAME], 'only the identity the application named is offered');
      // Denied: the client shows nothing (the server then refuses it), rather than alice.
      await a.c.call('approval.decide', { id: q2.id, decision: 'deny', lifetime: 'once' });
      const r = await named.catch(() => undefined);
      if (r) {
        assert.equal(r.localid, '', 'no identity is shown, and certainly not alice');
        r.fd.close();
      }
      await server.waitFor(/peer did not return a certificate|certificate required/i);
      assert.doesNotMatch(server.output().slice(before), /CN = alice/);
    } finally {
      a.c.close();
    }
  });
});
