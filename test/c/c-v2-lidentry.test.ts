/**
 * V2 local-identity selection (LIDENTRY) by an independent C program
 * (lidentry_probe.c, built from the hand table wire_v2.h) choosing the
 * identity a real STARTTLS shows to a real `openssl s_server -Verify 1`.
 * The program takes the approval agent's place: the desktop agent (a
 * control-socket client here) and it are alternatives for one service.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { Tlsp } from '../../src/protocol/v2-errors';
import { V2LidFlag } from '../../src/protocol/v2-constants';
import { connectControl } from '../../harness/control';
import { startOpensslServer, type Peer } from '../../harness/peers';
import { CLIENT_EMAIL, getPki, SERVER_NAME } from '../../harness/pki';
import { Plaintext, type Pool, startExamplePool, tcpConnect } from '../../harness/starttls';
import { waitFor } from '../../harness/wait';
import { buildDir, C_SOURCE_DIR, compileC, describeRun, runProgram, type BuildDir, type RunResult } from '../../harness/cbuild';

const GUARD = { timeout: 120_000 };
const hex = (n: number) => `0x${n.toString(16)}`;

describe('V2 LIDENTRY programs', () => {
  let dir: BuildDir;
  let probe: string;
  let pool: Pool;
  let server: Peer | undefined;

  before(async () => {
    dir = buildDir();
    probe = compileC(path.join(C_SOURCE_DIR, 'lidentry_probe.c'), dir, { projectHeaders: false });
    pool = await startExamplePool();
  });
  after(async () => {
    await pool.stop();
    dir.remove();
  });
  afterEach(async () => {
    await server?.stop();
    server = undefined;
    const control = await connectControl(pool.daemon);
    try {
      for (const r of await control.call('rules.list', {})) await control.call('rules.revoke', { id: r.id });
    } finally {
      control.close();
    }
  });

  const registrations = () => (pool.daemon.logs().match(/local-identity program registered/g) ?? []).length;

  /** Start the program and wait until the pool has registered it. */
  async function program(args: string[]): Promise<{ done: Promise<RunResult> }> {
    const before = registrations();
    const done = runProgram(probe, [pool.daemon.socket, ...args]);
    await waitFor('the LIDENTRY program registered', () => registrations() > before);
    // Wrapped: an awaited promise of a promise would wait for the program to end.
    return { done };
  }

  async function sServer(): Promise<Peer> {
    const pki = getPki();
    server = await startOpensslServer({ certPath: pki.server.chainPath, keyPath: pki.server.keyPath, caPath: pki.ca.certPath, clientCert: 'require' });
    return server;
  }

  /** A V1 STARTTLS in the client role to the s_server; what it showed, and the line the server got. */
  async function connect(srv: Peer): Promise<string> {
    const fd = await tcpConnect(srv.port);
    try {
      const r = await pool.client.starttls({ role: 'client', fd, remoteid: SERVER_NAME });
      const plain = new Plaintext(r.fd);
      plain.write('hello through the pool\n');
      await srv.waitFor('hello through the pool');
      await plain.close();
      return r.localid;
    } finally {
      fd.close();
    }
  }

  test('the program is asked which identity to show; its choice is shown, remembered with DBAPPEND, and offered back as a DBENTRY', GUARD, async () => {
    const { done: run } = await program([hex(V2LidFlag.WANT_DBENTRY), CLIENT_EMAIL, 'remember', '2', '1000']);
    const srv = await sServer();
    assert.equal(await connect(srv), CLIENT_EMAIL);
    assert.match(srv.output(), /CN ?= ?alice/);
    const rules = JSON.parse(pool.cli(['rules', 'list', '--json'])) as Array<{ localid: string; remote: string; decision: string; lifetime: string }>;
    assert.deepEqual(
      rules.map((r) => [r.localid, r.remote, r.decision, r.lifetime]),
      [[CLIENT_EMAIL, SERVER_NAME, 'allow', 'forever']],
    );
    // Without SKIP_DBENTRY the remembered rule is not used on its own: the program sees it, then the question.
    assert.equal(await connect(srv), CLIENT_EMAIL);
    const out = await run;
    assert.equal(out.code, 0, describeRun('lidentry_probe', out));
    const lines = out.stdout.split('\n').filter((l) => /^(question|dbentry):/.test(l));
    assert.equal(lines.length, 3, out.stdout);
    assert.match(lines[0]!, new RegExp(`^question: maxlevels=3 flags=0x100 deadline_ok=Y reqid=0 remoteid=${SERVER_NAME} localid=${SERVER_NAME}$`));
    assert.match(lines[1]!, new RegExp(`^dbentry: maxlevels=0 flags=0x1100 remoteid=${SERVER_NAME} localid=${CLIENT_EMAIL}$`));
    assert.match(lines[2]!, /^question: /);
  });

  test('with SKIP_DBENTRY a remembered rule is used without asking; with SKIP_USER too it is not (the rule names no user)', GUARD, async () => {
    const srv = await sServer();
    const { done: remember } = await program(['0', CLIENT_EMAIL, 'remember', '1', '500']);
    assert.equal(await connect(srv), CLIENT_EMAIL);
    assert.equal((await remember).code, 0);
    const { done: skip } = await program([hex(V2LidFlag.SKIP_DBENTRY), '-', 'once', '0', '3000']);
    assert.equal(await connect(srv), CLIENT_EMAIL);
    const quiet = await skip;
    assert.equal(quiet.code, 0, describeRun('lidentry_probe', quiet));
    assert.doesNotMatch(quiet.stdout, /^question:/m);

    const { done: strict } = await program([hex(V2LidFlag.SKIP_USER), SERVER_NAME, 'once', '1', '1000']);
    assert.equal(await connect(srv), SERVER_NAME);
    const asked = await strict;
    assert.match(asked.stdout, /^question: maxlevels=3 flags=0x81 /m);
  });

  test('a program that answers with no identity, or ERROR, makes the pool show none; one that hangs up mid-question too, and the next can register', GUARD, async () => {
    for (const choice of ['-', 'ERROR', 'CLOSE']) {
      const { done: run } = await program(['0', choice, 'once', '1', '500']);
      const srv = await sServer();
      const fd = await tcpConnect(srv.port);
      const r = await pool.client.starttls({ role: 'client', fd, remoteid: SERVER_NAME }).catch(() => undefined);
      fd.close();
      if (r) {
        assert.equal(r.localid, '', `${choice}: no identity was shown`);
        r.fd.close();
      }
      await srv.waitFor(/peer did not return a certificate|certificate required/i);
      await server!.stop();
      server = undefined;
      const out = await run;
      assert.match(out.stdout, /^question: /m, `${choice}: ${out.stdout}`);
    }
    assert.equal(pool.daemon.proc.exitCode, null);
  });

  test('the desktop approval agent and a LIDENTRY program are one service: whoever registers first is asked, the other refused', GUARD, async () => {
    const agent = await connectControl(pool.daemon);
    try {
      await agent.call('approval.register', {});
      const refused = await runProgram(probe, [pool.daemon.socket, '0', '-', 'once', '1', '500']);
      assert.equal(refused.code, 1, describeRun('lidentry_probe', refused));
      assert.match(refused.stdout, new RegExp(`^error: code ${Tlsp.E_TLSPOOL_LIDENTRY_NOT_VACANT}: the approval agent is `, 'm'));
    } finally {
      agent.close();
    }
    await waitFor('the agent left', () => /approval agent left/.test(pool.daemon.logs()));
    const { done: run } = await program(['0', CLIENT_EMAIL, 'once', '1', '3000']);
    const second = await connectControl(pool.daemon);
    try {
      const busy = await second.call('approval.register', {}).then(
        () => undefined,
        (e: { code?: string; message: string }) => e,
      );
      assert.equal(busy?.code, 'EBUSY');
      // A second registration from another LIDENTRY program is refused as well.
      const third = await runProgram(probe, [pool.daemon.socket, '0', '-', 'once', '1', '500']);
      assert.match(third.stdout, new RegExp(`^error: code ${Tlsp.E_TLSPOOL_LIDENTRY_NOT_VACANT}: `, 'm'));
    } finally {
      second.close();
    }
    const srv = await sServer();
    assert.equal(await connect(srv), CLIENT_EMAIL);
    assert.equal((await run).code, 0);
  });
});
