/**
 * V2 PIN entry (PINENTRY 0x29 in 388-byte packets) against a real SoftHSM2
 * token: an independent C program (pinentry_v2_probe.c, built from the hand
 * table wire_v2.h) answers the prompts for a real STARTTLS whose key is on
 * the token, to a real openssl s_server. V1 and V2 programs share the one
 * PIN entry registry: whichever registered first holds it.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { Tlsp } from '../../src/protocol/v2-errors';
import type { Peer } from '../../harness/peers';
import { aliceToPeer, PIN, pinProgram, startRevServer, startTokenPool, talk, type TokenPool } from '../../harness/token-pool';
import { rejection } from '../../harness/starttls';
import { waitFor } from '../../harness/wait';
import { buildDir, C_SOURCE_DIR, compileC, describeRun, runProgram, type BuildDir } from '../../harness/cbuild';

const GUARD = { timeout: 120_000 };

describe('V2 PIN entry programs', () => {
  let dir: BuildDir;
  let v2Program: string;
  let v1Program: string;
  let pool: TokenPool | undefined;
  let peers: Peer[] = [];

  before(() => {
    dir = buildDir();
    v2Program = compileC(path.join(C_SOURCE_DIR, 'pinentry_v2_probe.c'), dir, { projectHeaders: false });
    v1Program = compileC(path.join(C_SOURCE_DIR, 'pinentry_probe.c'), dir, { projectHeaders: false });
  });
  after(() => dir.remove());
  afterEach(async () => {
    for (const p of peers) await p.stop();
    peers = [];
    await pool?.stop();
    pool = undefined;
  });

  async function revServer(): Promise<Peer> {
    const p = await startRevServer();
    peers.push(p);
    return p;
  }
  const registered = (n: number) => waitFor(`${n} PIN entry registration(s)`, () => (pool!.daemon.logs().match(/PIN entry program registered/g) ?? []).length >= n);

  test('a V2 program gets a V2 prompt (attempt 0, 36/20/20/36 token fields) and its PIN completes the handshake', GUARD, async () => {
    pool = await startTokenPool();
    const run = runProgram(v2Program, [pool.daemon.socket, '30000000', PIN]);
    await registered(1);
    const srv = await revServer();
    const r = await aliceToPeer(pool, srv.port);
    assert.equal(await talk(r.fd), 'cba\n');
    const out = await run;
    assert.equal(out.code, 0, describeRun('pinentry_v2_probe', out));
    // The pool waits at most what the program said it needs.
    assert.match(out.stdout, /^prompt: attempt=0 timeout_us=30000000 label=work manuf=SoftHSM project model=SoftHSM v2 serial=[0-9a-f]+ reqid=0 text=.*PIN for token "work"/m);
    assert.match(out.stdout, /^answered$/m);
    assert.doesNotMatch(pool.daemon.logs(), new RegExp(PIN), 'the PIN is never logged');
  });

  test('a wrong PIN, then the right one: V2 attempts count failed tries, 0 then 1', GUARD, async () => {
    pool = await startTokenPool();
    const run = runProgram(v2Program, [pool.daemon.socket, '60000000', '11111111', PIN]);
    await registered(1);
    const srv = await revServer();
    const r = await aliceToPeer(pool, srv.port);
    assert.equal(await talk(r.fd), 'cba\n');
    const out = await run;
    assert.equal(out.code, 0, describeRun('pinentry_v2_probe', out));
    const attempts = [...out.stdout.matchAll(/^prompt: attempt=(\d+) /gm)].map((m) => Number(m[1]));
    assert.deepEqual(attempts, [0, 1]);
    assert.match(out.stdout.split('\n').filter((l) => l.startsWith('prompt:'))[1]!, /wrong/i);
  });

  test('an empty PIN refuses: the STARTTLS gets ECANCELED; an ERROR answer refuses too, unacknowledged', GUARD, async () => {
    pool = await startTokenPool();
    const srv = await revServer();
    for (const [i, answer] of ['-', 'ERROR'].entries()) {
      const run = runProgram(v2Program, [pool.daemon.socket, '60000000', answer]);
      await registered(i + 1);
      const err = await rejection(aliceToPeer(pool, srv.port));
      assert.equal(err.code, 'ECANCELED', `answer ${answer}`);
      const out = await run;
      assert.equal(out.code, 0, describeRun('pinentry_v2_probe', out));
      if (answer === 'ERROR') assert.match(out.stdout, /^quiet$/m, 'V2 sends no SUCCESS for an ERROR answer');
    }
    assert.equal(pool.daemon.proc.exitCode, null);
  });

  test('one registry for V1 and V2: a V2 program is refused with E_TLSPOOL_PINENTRY_NOT_VACANT while a V1 one holds it, and a V1 one with EBUSY while a V2 one does', GUARD, async () => {
    pool = await startTokenPool();
    const v1 = pinProgram(pool, () => PIN);
    await registered(1);
    const refused = await runProgram(v2Program, [pool.daemon.socket, '60000000']);
    assert.equal(refused.code, 0, describeRun('pinentry_v2_probe', refused));
    assert.match(refused.stdout, new RegExp(`^error: code ${Tlsp.E_TLSPOOL_PINENTRY_NOT_VACANT}: PIN entry is held by `, 'm'));
    v1.client.close();
    await waitFor('the V1 program left', () => /PIN entry program unregistered/.test(pool!.daemon.logs()));

    const v2 = runProgram(v2Program, [pool.daemon.socket, '60000000', PIN]);
    await registered(2);
    const busy = await runProgram(v1Program, [pool.daemon.socket, PIN]);
    assert.equal(busy.code, 1, describeRun('pinentry_probe', busy));
    assert.match(busy.stdout, /errno 16 \(PIN entry is held by /);
    // The V2 program still holds it, and answers a real prompt.
    const srv = await revServer();
    const r = await aliceToPeer(pool, srv.port);
    assert.equal(await talk(r.fd), 'cba\n');
    const out = await v2;
    assert.equal(out.code, 0, describeRun('pinentry_v2_probe', out));
    assert.match(out.stdout, /^prompt: attempt=0 /m);
  });
});
