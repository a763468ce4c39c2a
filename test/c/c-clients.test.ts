/**
 * C clients against the live daemon: ping_client.c (written against our
 * header) and wire_probe.c (written against nothing but the wire table's
 * byte offsets). Each probe scenario is one test; a scenario exits 0 only
 * when every check it printed passed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TLSPOOL_IDENTITY_V1 } from '../../src/protocol/constants';
import { Errno } from '../../src/protocol/errno';
import { startDaemon, type TestDaemon } from '../../harness/daemon';
import { buildDir, C_SOURCE_DIR, compileC, describeRun, runProgram, type BuildDir } from '../../harness/cbuild';

describe('C clients against the live daemon', () => {
  let dir: BuildDir | undefined;
  let daemon: TestDaemon | undefined;
  let pingClient: string;
  let wireProbe: string;

  before(async () => {
    dir = buildDir();
    pingClient = compileC(path.join(C_SOURCE_DIR, 'ping_client.c'), dir);
    // The probe must not see our header: build it without include.
    wireProbe = compileC(path.join(C_SOURCE_DIR, 'wire_probe.c'), dir, { projectHeaders: false });
    daemon = await startDaemon();
  });

  after(async () => {
    if (daemon) {
      await daemon.stop();
      fs.rmSync(daemon.dir, { recursive: true, force: true });
    }
    dir?.remove();
  });

  /** Run one wire_probe scenario; assert it passed every check; return its output. */
  async function probe(scenario: string): Promise<string> {
    const r = await runProgram(wireProbe, [daemon!.socket, scenario]);
    const what = `wire_probe ${scenario}`;
    assert.equal(r.code, 0, describeRun(what, r));
    assert.doesNotMatch(r.stdout, /^FAIL/m, describeRun(what, r));
    assert.match(r.stdout, new RegExp(`^${scenario}: 0 failed checks$`, 'm'), describeRun(what, r));
    return r.stdout;
  }

  const identityLine = new RegExp(`^pool identity: ${TLSPOOL_IDENTITY_V1.replace(/\./g, '\\.')}$`, 'm');
  const errorLine = (errno: number) => new RegExp(`^error: errno ${errno}: \\S.*$`, 'm');

  test('a C client built on tlspool/commands.h pings the pool and gets its V1 identity', async () => {
    const r = await runProgram(pingClient, [daemon!.socket]);
    assert.equal(r.code, 0, describeRun('ping_client', r));
    assert.match(r.stdout, identityLine, describeRun('ping_client', r));
  });

  test('PING with reqid 7 is answered by PING, reqid 7, cbid 0, the pool identity', async () => {
    assert.match(await probe('ping'), identityLine);
  });

  test('an unknown command is answered by ERROR ENOSYS with a message, and the connection goes on', async () => {
    const out = await probe('unknown');
    assert.match(out, errorLine(Errno.ENOSYS));
    assert.match(out, identityLine);
  });

  test('300 pipelined PINGs in one write are each answered exactly once', async () => {
    const out = await probe('pipelined');
    assert.match(out, /^ok: 300 responses arrive/m);
    assert.match(out, /^ok: every reqid 1\.\.300 is answered/m);
    assert.match(out, /^ok: reqid 301 copied/m);
  });

  test('a PING split over three writes is answered exactly once', async () => {
    const out = await probe('split');
    assert.match(out, /^ok: reqid 2571 copied/m); // 0x0a0b
    assert.match(out, /^ok: reqid 2572 copied/m); // the next PING gets the next response
  });

  test('STARTTLS_CLIENT without a file descriptor is answered by ERROR EBADF', async () => {
    assert.match(await probe('starttls-nofd'), errorLine(Errno.EBADF));
  });

  test('STARTTLS_CLIENT with /dev/null as its file descriptor is answered by ERROR ENOTSOCK', async () => {
    assert.match(await probe('starttls-notsock'), errorLine(Errno.ENOTSOCK));
  });

  test('STARTTLS_CLIENT on a UDP socket without the DTLS flag is answered by ERROR EPROTONOSUPPORT', async () => {
    assert.match(await probe('starttls-udp-nodtls'), errorLine(Errno.EPROTONOSUPPORT));
  });

  test('a PING whose identity has no NUL is answered by ERROR EINVAL, and the connection goes on', async () => {
    const out = await probe('unterminated');
    assert.match(out, errorLine(Errno.EINVAL));
    assert.match(out, identityLine);
  });

  test('clients that vanish mid-packet (one with an fd attached) leave the pool serving new connections', async () => {
    assert.match(await probe('vanish'), identityLine);
    assert.equal(daemon!.proc.exitCode, null, `the daemon exited:\n${daemon!.logs()}`);
    // And once more, from a fresh client process.
    const r = await runProgram(pingClient, [daemon!.socket]);
    assert.equal(r.code, 0, describeRun('ping_client', r));
    assert.match(r.stdout, identityLine);
  });

  test('the daemon is still running after every probe', () => {
    assert.equal(daemon!.proc.exitCode, null, `the daemon exited:\n${daemon!.logs()}`);
    assert.equal(daemon!.proc.signalCode, null, `the daemon died:\n${daemon!.logs()}`);
  });
});
