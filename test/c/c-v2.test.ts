/**
 * V2 beside V1 on one socket, seen by independent C clients: wire_v2_probe.c
 * (written against nothing but the hand-made wire_v2.h table) and the V1
 * wire_probe.c at the same time. Each probe scenario is one test; it exits 0
 * only when every check it printed passed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TLSPOOL_IDENTITY_V1 } from '../../src/protocol/constants';
import { TLSPOOL_IDENTITY_V2 } from '../../src/protocol/v2-constants';
import { Tlsp } from '../../src/protocol/v2-errors';
import { startDaemon, type TestDaemon } from '../../harness/daemon';
import { buildDir, C_SOURCE_DIR, compileC, describeRun, runProgram, type BuildDir } from '../../harness/cbuild';

describe('V2 C clients beside V1 ones', () => {
  let dir: BuildDir | undefined;
  let daemon: TestDaemon | undefined;
  let v2Probe: string;
  let v1Probe: string;

  before(async () => {
    dir = buildDir();
    v2Probe = compileC(path.join(C_SOURCE_DIR, 'wire_v2_probe.c'), dir, { projectHeaders: false });
    v1Probe = compileC(path.join(C_SOURCE_DIR, 'wire_probe.c'), dir, { projectHeaders: false });
    daemon = await startDaemon();
  });

  after(async () => {
    if (daemon) {
      await daemon.stop();
      fs.rmSync(daemon.dir, { recursive: true, force: true });
    }
    dir?.remove();
  });

  async function run(exe: string, scenario: string): Promise<string> {
    const r = await runProgram(exe, [daemon!.socket, scenario]);
    const what = `${path.basename(exe)} ${scenario}`;
    assert.equal(r.code, 0, describeRun(what, r));
    assert.doesNotMatch(r.stdout, /^FAIL/m, describeRun(what, r));
    assert.match(r.stdout, new RegExp(`^${scenario}: 0 failed checks$`, 'm'), describeRun(what, r));
    return r.stdout;
  }
  const probe = (scenario: string) => run(v2Probe, scenario);
  const identity = (id: string) => new RegExp(`^pool identity: ${id.replace(/\./g, '\\.')}$`, 'm');
  const errorLine = (code: number) => new RegExp(`^error: code ${code}: \\S.*$`, 'm');

  test('a V2 PING is answered in one 388-byte read with the V2 identity and the STARTTLS facility', async () => {
    assert.match(await probe('ping'), identity(TLSPOOL_IDENTITY_V2));
  });

  test('V1 and V2 clients at the same time each get their own protocol', async () => {
    const [v1, v2] = await Promise.all([run(v1Probe, 'pipelined'), probe('pipelined')]);
    assert.match(v1, /^ok: 300 responses arrive/m);
    assert.match(v2, /^ok: 100 pipelined V2 PINGs/m);
  });

  test('an unknown V2 tag is answered by ERROR E_TLSPOOL_COMMAND_UNKNOWN, and the connection goes on', async () => {
    const out = await probe('unknown');
    assert.match(out, errorLine(Tlsp.E_TLSPOOL_COMMAND_UNKNOWN));
    assert.match(out, identity(TLSPOOL_IDENTITY_V2));
  });

  test('a V2-only first packet written in two pieces is read as one V2 packet', async () => {
    assert.match(await probe('split'), errorLine(Tlsp.E_TLSPOOL_CTLKEY_NOT_FOUND));
  });

  test('an early V2 client (376-byte packets) is told, in 376 bytes, that its API version is too old', async () => {
    const out = await probe('early');
    assert.match(out, errorLine(Tlsp.E_TLSPOOL_COMMAND_NOTIMPL));
    assert.match(out, /too old/);
  });

  test('a V2 PING without a NUL in its identity is answered by ERROR EINVAL, and the connection goes on', async () => {
    const out = await probe('unterminated');
    assert.match(out, errorLine(22));
    assert.match(out, identity(TLSPOOL_IDENTITY_V2));
  });

  test('a descriptor on a V2 request that takes none is refused with E_TLSPOOL_SUPERFLUOUS_SOCKET', async () => {
    assert.match(await probe('superfluous'), errorLine(Tlsp.E_TLSPOOL_SUPERFLUOUS_SOCKET));
  });

  test('a V2 packet with a cbid that no callback has is handled as a new request', async () => {
    assert.match(await probe('stray-cbid'), identity(TLSPOOL_IDENTITY_V2));
  });

  test('CONTROL_DETACH and CONTROL_REATTACH of an unknown ctlkey are answered by E_TLSPOOL_CTLKEY_NOT_FOUND', async () => {
    assert.match(await probe('control-unknown'), errorLine(Tlsp.E_TLSPOOL_CTLKEY_NOT_FOUND));
  });

  test('V1 clients still see the V1 pool after all of this', async () => {
    assert.match(await run(v1Probe, 'ping'), identity(TLSPOOL_IDENTITY_V1));
    assert.equal(daemon!.proc.exitCode, null, `the daemon exited:\n${daemon!.logs()}`);
  });
});
