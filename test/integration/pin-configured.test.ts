/**
 * A PIN written in the configuration (`pin.tokens`) that the token refuses:
 * the real daemon, a SoftHSM2 token seen through OpenSC's pkcs11-spy (which
 * writes every PKCS #11 call, C_Login's PIN and return value included, to a
 * file), and openssl s_server as the peer. The pool tries such a PIN once;
 * after that it asks the PIN entry program (or fails saying why) until the
 * token's entry in pin.tokens changes in a reloaded configuration.
 */
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Peer } from '../../harness/peers';
import { tempDir } from '../../harness/daemon';
import { SOFTHSM_MODULE } from '../../harness/softhsm';
import { aliceToPeer, PIN, pinProgram, startRevServer, startTokenPool, talk, TOKEN, type TokenPool } from '../../harness/token-pool';
import { rejection } from '../../harness/starttls';
import { waitFor } from '../../harness/wait';

const GUARD = { timeout: 90_000 };
const SPY_MODULE = '/usr/lib/x86_64-linux-gnu/pkcs11/pkcs11-spy.so';
/** Wrong PINs for token "work", distinctive enough to count in the spy's log. */
const WRONG = '40404040';
const WRONG_TOO = '50505050';
const REFUSED = new RegExp(
  `the PIN configured for token ${TOKEN} in pin\\.tokens was refused by the token; it will not be tried again until that entry changes in a reloaded configuration`,
);

let pool: TokenPool | undefined;
let peer: Peer | undefined;
let spyDir: string | undefined;
afterEach(async () => {
  await peer?.stop();
  peer = undefined;
  await pool?.stop();
  pool = undefined;
  if (spyDir) fs.rmSync(spyDir, { recursive: true, force: true });
  spyDir = undefined;
});

/** A token pool whose SoftHSM module is reached through pkcs11-spy; returns the spy's log file. */
async function spiedPool(pinLines: string[]): Promise<{ pool: TokenPool; spyLog: string }> {
  spyDir = tempDir('tlspool-spy-');
  const spyLog = path.join(spyDir, 'spy.log');
  pool = await startTokenPool({
    modules: [SPY_MODULE],
    env: { PKCS11SPY: SOFTHSM_MODULE, PKCS11SPY_OUTPUT: spyLog },
    pin: pinLines,
  });
  peer = await startRevServer();
  return { pool, spyLog };
}

/** Every C_Login in the spy's log: the PIN it carried and what the token returned. */
function logins(spyLog: string): Array<{ pin: string; rv: string }> {
  if (!fs.existsSync(spyLog)) return [];
  const out: Array<{ pin: string; rv: string }> = [];
  for (const call of fs.readFileSync(spyLog, 'latin1').split(/^\d+: /m)) {
    if (!call.startsWith('C_Login\n')) continue;
    const dump = call.slice(call.indexOf('pPin[ulPinLen]'));
    const hex = [...dump.matchAll(/^ +[0-9a-f]{8}  ((?:[0-9a-f]{2} )+)/gim)].map((m) => m[1]!.replace(/ /g, '')).join('');
    const rv = /^Returned: +\d+ (\w+)/m.exec(call)?.[1] ?? 'none';
    out.push({ pin: Buffer.from(hex, 'hex').toString('latin1'), rv });
  }
  return out;
}

function loginsWith(spyLog: string, pin: string): string[] {
  return logins(spyLog)
    .filter((l) => l.pin === pin)
    .map((l) => l.rv);
}

/** STARTTLS_CLIENT as alice@example.test (key on the token) to the s_server. */
const aliceTo = (p: TokenPool) => aliceToPeer(p, peer!.port);


/** Forget the cached PIN and log the token out, so that the next STARTTLS logs in again. */
async function lockTokens(p: TokenPool): Promise<void> {
  await p.client().lock();
}

async function reload(p: TokenPool): Promise<void> {
  const before = (p.daemon.logs().match(/"msg":"configuration reloaded"/g) ?? []).length;
  process.kill(p.daemon.pid, 'SIGHUP');
  await waitFor('the configuration reloaded', () => (p.daemon.logs().match(/"msg":"configuration reloaded"/g) ?? []).length > before);
}

function count(text: string, re: RegExp): number {
  return (text.match(new RegExp(re.source, 'g')) ?? []).length;
}

describe('a wrong PIN in pin.tokens', () => {
  test('without a PIN entry program: tried once, then every STARTTLS fails saying the configured PIN was refused', GUARD, async () => {
    const { pool, spyLog } = await spiedPool(['wait_for_program: 0', 'tokens:', `  - { label: ${TOKEN}, pin: "${WRONG}" }`]);
    for (let i = 0; i < 4; i++) {
      const err = await rejection(aliceTo(pool));
      assert.equal(err.code, 'ENOKEY');
      assert.match(err.message, new RegExp(`token "${TOKEN}" refused the PIN in pin\\.tokens and no PIN entry program registered`));
      assert.match(err.message, /tlspool pinentry/);
    }
    assert.deepEqual(loginsWith(spyLog, WRONG), ['CKR_PIN_INCORRECT'], 'the configured PIN went to the token once');
    assert.equal(count(pool.daemon.logs(), REFUSED), 1, 'the log says so once');
    assert.ok(!pool.daemon.logs().includes(WRONG), 'the log never holds the PIN');

    // A program registers: the next STARTTLS asks it (a fresh login, attempt 1) and succeeds.
    const program = pinProgram(pool, () => PIN);
    const r = await aliceTo(pool);
    assert.equal(await talk(r.fd), 'cba\n');
    assert.deepEqual(
      program.prompts.map((p) => p.attempt),
      [1],
    );
    assert.deepEqual(loginsWith(spyLog, WRONG), ['CKR_PIN_INCORRECT']);
    assert.deepEqual(loginsWith(spyLog, PIN), ['CKR_OK']);
  });

  test('with a PIN entry program: asked in the same STARTTLS; later logins ask it directly until the entry changes and the configuration is reloaded', GUARD, async () => {
    const { pool, spyLog } = await spiedPool(['tokens:', `  - { label: ${TOKEN}, pin: "${WRONG}" }`]);
    const program = pinProgram(pool, () => PIN);

    // The configured PIN is refused; the program is asked for the second attempt of the same login.
    assert.equal(await talk((await aliceTo(pool)).fd), 'cba\n');
    assert.deepEqual(
      program.prompts.map((p) => p.attempt),
      [2],
    );
    assert.match(program.prompts[0]!.prompt, /wrong/i);
    assert.deepEqual(loginsWith(spyLog, WRONG), ['CKR_PIN_INCORRECT']);
    assert.equal(count(pool.daemon.logs(), REFUSED), 1);

    // Locked and used again: the program is asked first; the configured PIN is not tried.
    await lockTokens(pool);
    assert.equal(await talk((await aliceTo(pool)).fd), 'cba\n');
    assert.deepEqual(
      program.prompts.map((p) => p.attempt),
      [2, 1],
    );
    assert.deepEqual(loginsWith(spyLog, WRONG), ['CKR_PIN_INCORRECT']);

    // A reload that leaves the token's entry as it was keeps it refused.
    await reload(pool);
    await lockTokens(pool);
    assert.equal(await talk((await aliceTo(pool)).fd), 'cba\n');
    assert.equal(program.prompts.length, 3);
    assert.deepEqual(loginsWith(spyLog, WRONG), ['CKR_PIN_INCORRECT']);

    // The entry changes: the new configured PIN is tried once (refused too), and the program answers.
    const file = path.join(pool.daemon.dir, 'tlspool.yaml');
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace(WRONG, WRONG_TOO));
    await reload(pool);
    for (let i = 0; i < 2; i++) {
      await lockTokens(pool);
      assert.equal(await talk((await aliceTo(pool)).fd), 'cba\n');
    }
    assert.deepEqual(
      program.prompts.map((p) => p.attempt),
      [2, 1, 1, 2, 1],
    );
    assert.deepEqual(loginsWith(spyLog, WRONG), ['CKR_PIN_INCORRECT']);
    assert.deepEqual(loginsWith(spyLog, WRONG_TOO), ['CKR_PIN_INCORRECT']);
    assert.equal(count(pool.daemon.logs(), REFUSED), 2);
    assert.deepEqual(loginsWith(spyLog, PIN), ['CKR_OK', 'CKR_OK', 'CKR_OK', 'CKR_OK', 'CKR_OK']);
    const logs = pool.daemon.logs();
    assert.ok(!logs.includes(WRONG) && !logs.includes(WRONG_TOO) && !logs.includes(PIN), 'the log never holds a PIN');
  });
});
