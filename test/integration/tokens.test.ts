/**
 * The token commands against SoftHSM2 tokens made per test: `tlspool
 * identity generate` (a never-extractable key and a self-signed certificate
 * on the token, or a request), `tlspool identity import`, `tlspool tokens`,
 * and handshakes with the identities they make.
 */
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PoolClient } from '../../src/client/pool-client';
import { openDb } from '../../src/store/db';
import { IdentityStore } from '../../src/store/identities';
import { CLI, startDaemon, tempDir, type TestDaemon } from '../../harness/daemon';
import { getPki, SERVER_NAME } from '../../harness/pki';
import type { Peer } from '../../harness/peers';
import { createSoftHsm, SOFTHSM_MODULE, type SoftHsm } from '../../harness/softhsm';
import { connectFd, PIN, startRevServer, talk } from '../../harness/token-pool';
import { waitFor } from '../../harness/wait';

const GUARD = { timeout: 90_000 };
const pki = getPki();
const BOB = 'bob@example.test';

let cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

function cli(hsm: SoftHsm, args: string[], input?: string) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', input, env: { ...process.env, ...hsm.env } });
  return r;
}

function setup(): { hsm: SoftHsm; dir: string; stateDir: string } {
  const hsm = createSoftHsm();
  cleanups.push(() => hsm.cleanup());
  const dir = tempDir();
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  hsm.initToken('gen', PIN);
  return { hsm, dir, stateDir: path.join(dir, 'state') };
}

async function daemonFor(hsm: SoftHsm, dir: string): Promise<TestDaemon> {
  const d = await startDaemon({ dir, env: hsm.env, config: `pkcs11:\n  modules: [${SOFTHSM_MODULE}]\n` });
  cleanups.push(async () => void (await d.stop()));
  return d;
}

/** A PIN entry program that always gives PIN; returns the prompt count. */
function pinProgram(socket: string): () => number {
  const c = PoolClient.connect(socket);
  cleanups.push(() => c.close());
  let n = 0;
  c.offerPinEntry({ onPrompt: () => (n++, new TextEncoder().encode(PIN)) }).catch(() => {});
  return () => n;
}

async function server(caPath: string): Promise<Peer> {
  const p = await startRevServer(caPath);
  cleanups.push(() => p.stop());
  return p;
}

async function handshakeAs(socket: string, localid: string, port: number): Promise<string> {
  const c = PoolClient.connect(socket);
  const fd = await connectFd(port);
  try {
    return await talk((await c.starttls({ role: 'client', fd, localid, remoteid: SERVER_NAME })).fd);
  } finally {
    fd.close();
    c.close();
  }
}

function trustCa(stateDir: string): void {
  fs.mkdirSync(stateDir, { recursive: true });
  const db = openDb(stateDir);
  new IdentityStore(db).addTrustAnchors(pki.ca.certPem);
  db.close();
}

function chainOf(stateDir: string, id: string): string {
  const db = openDb(stateDir);
  const pem = new IdentityStore(db).getIdentity(id)!.chainPem;
  db.close();
  return pem;
}

describe('token commands', () => {
  test('identity generate makes a never-extractable key and a self-signed certificate on the token; a handshake with it works', GUARD, async () => {
    const { hsm, dir, stateDir } = setup();
    const g = cli(hsm, ['identity', 'generate', BOB, '--token', 'gen', '--pin-fd', '0', '--pkcs11-module', SOFTHSM_MODULE, '--state-dir', stateDir], `${PIN}\n`);
    assert.equal(g.status, 0, g.stderr);
    assert.match(g.stdout, /added bob@example\.test/);
    assert.ok(!g.stdout.includes(PIN) && !g.stderr.includes(PIN));
    trustCa(stateDir);
    const certPath = path.join(dir, 'bob.pem');
    fs.writeFileSync(certPath, chainOf(stateDir, BOB));

    // The private key on the token: CKA_EXTRACTABLE false, CKA_SENSITIVE true (as the token itself reports it).
    const objects = spawnSync('pkcs11-tool', ['--module', SOFTHSM_MODULE, '--token-label', 'gen', '--login', '--pin', PIN, '--list-objects', '--type', 'privkey'], {
      encoding: 'utf8',
      env: { ...process.env, ...hsm.env },
    });
    assert.equal(objects.status, 0, objects.stderr);
    assert.match(objects.stdout, /label:\s+bob@example\.test/);
    assert.match(objects.stdout, /never extractable/);
    assert.match(objects.stdout, /Access:\s+sensitive/);
    const listed = cli(hsm, ['tokens', '--pkcs11-module', SOFTHSM_MODULE, '--login', 'gen', '--pin-fd', '0', '--json', '--socket', path.join(dir, 'none.sock')], `${PIN}\n`);
    assert.equal(listed.status, 0, listed.stderr);
    const report = JSON.parse(listed.stdout) as Array<{ slots: Array<{ token: { label: string }; objects: Array<{ kind: string; label: string; extractable?: boolean; sensitive?: boolean }> }> }>;
    const gen = report[0]!.slots.find((s) => s.token.label === 'gen')!;
    const key = gen.objects.find((o) => o.kind === 'private key')!;
    assert.equal(key.extractable, false);
    assert.equal(key.sensitive, true);
    assert.ok(gen.objects.some((o) => o.kind === 'certificate' && o.label === BOB));

    const daemon = await daemonFor(hsm, dir);
    const prompts = pinProgram(daemon.socket);
    const srv = await server(certPath); // the peer trusts exactly the generated certificate
    assert.equal(await handshakeAs(daemon.socket, BOB, srv.port), 'cba\n');
    assert.match(await srv.waitFor(/CN ?= ?bob@example\.test/), /verify return:1/);
    assert.equal(prompts(), 1);
  });

  test('identity generate --csr writes a request signed by the new key, naming the identity', GUARD, () => {
    const { hsm, dir } = setup();
    const csr = path.join(dir, 'bob.csr');
    const g = cli(hsm, ['identity', 'generate', BOB, '--token', 'gen', '--csr', csr, '--pin-fd', '0', '--pkcs11-module', SOFTHSM_MODULE], `${PIN}\n`);
    assert.equal(g.status, 0, g.stderr);
    assert.match(g.stdout, /pkcs11:token=gen;object=bob%40example\.test;id=%[0-9a-f]{2}/);
    const v = spawnSync('openssl', ['req', '-in', csr, '-noout', '-verify', '-text'], { encoding: 'utf8' });
    assert.equal(v.status, 0, v.stderr);
    assert.match(v.stdout + v.stderr, /verify OK/i);
    assert.match(v.stdout, /Subject: CN ?= ?bob@example\.test/);
    assert.match(v.stdout, /email:bob@example\.test/);
  });

  test('identity import binds an identity to a certificate and key already on the token; tokens shows the pool unlocking and locking it', GUARD, async () => {
    const { hsm, dir, stateDir } = setup();
    hsm.importKey({ token: 'gen', pin: PIN, keyPath: pki.client.keyPath, object: 'alice', id: '0a' });
    hsm.writeCert({ token: 'gen', pin: PIN, der: pki.client.der, object: 'alice', id: '0a' });
    const imp = cli(hsm, ['identity', 'import', 'alice@example.test', '--pkcs11', 'pkcs11:token=gen;object=alice', '--pkcs11-module', SOFTHSM_MODULE, '--state-dir', stateDir]);
    assert.equal(imp.status, 0, imp.stderr);
    assert.match(imp.stdout, /added alice@example\.test.*key pkcs11:token=gen;object=alice;type=private/);
    trustCa(stateDir);
    const daemon = await daemonFor(hsm, dir);
    const tokensState = () => {
      const r = cli(hsm, ['tokens', '--pkcs11-module', SOFTHSM_MODULE, '--socket', daemon.socket]);
      assert.equal(r.status, 0, r.stderr);
      return r.stdout;
    };
    assert.match(tokensState(), /token "gen" \(SoftHSM project, SoftHSM v2, serial [0-9a-f]+\)\n\s+flags: initialized, login-required, user-pin-initialized, rng; PIN: ok; in the pool: locked/);
    assert.match(tokensState(), /certificate "alice" id 0a: .*CN=alice/);
    const prompts = pinProgram(daemon.socket);
    const srv = await server(pki.ca.certPath);
    assert.equal(await handshakeAs(daemon.socket, 'alice@example.test', srv.port), 'cba\n');
    assert.equal(prompts(), 1);
    assert.match(tokensState(), /token "gen".*\n.*in the pool: unlocked/);
    const lock = cli(hsm, ['lock', '--socket', daemon.socket]);
    assert.equal(lock.status, 0, lock.stderr);
    assert.match(tokensState(), /token "gen".*\n.*in the pool: locked/);
  });
});

describe('tlspool tokens, as a new user meets it', () => {
  test('a token the CLI sees and the running daemon does not is "not visible to the running daemon", not "locked"', GUARD, async () => {
    const { hsm, dir } = setup();
    // The daemon gets another SoftHSM configuration (as when npm start ran without SOFTHSM2_CONF).
    const other = createSoftHsm();
    cleanups.push(() => other.cleanup());
    other.initToken('elsewhere', PIN);
    const daemon = await daemonFor(other, dir);
    const r = cli(hsm, ['tokens', '--pkcs11-module', SOFTHSM_MODULE, '--socket', daemon.socket]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /token "gen" \(SoftHSM project.*\n\s+flags: .*; in the pool: not visible to the running daemon\n/);
    assert.doesNotMatch(r.stdout, /token "gen".*\n.*in the pool: locked/);
    assert.match(r.stdout, /SOFTHSM2_CONF/);
    // The same token, seen by both: locked, with no word about visibility.
    const same = cli(other, ['tokens', '--pkcs11-module', SOFTHSM_MODULE, '--socket', daemon.socket]);
    assert.equal(same.status, 0, same.stderr);
    assert.match(same.stdout, /token "elsewhere".*\n.*in the pool: locked\n/);
    assert.doesNotMatch(same.stdout, /not visible/);
  });

  test('--login with a label no token has fails, naming the labels there are', GUARD, () => {
    const { hsm, dir } = setup();
    const r = cli(hsm, ['tokens', '--pkcs11-module', SOFTHSM_MODULE, '--login', 'nope', '--pin-fd', '0', '--socket', path.join(dir, 'none.sock')], `${PIN}\n`);
    assert.equal(r.status, 1, r.stdout);
    assert.match(r.stderr, /^tlspool tokens: no token labelled "nope"; there are: "gen"/);
    assert.equal(r.stdout, '', 'nothing listed');
  });

  test('a wrong PIN is said in a sentence, not as CKR_PIN_INCORRECT', GUARD, () => {
    const { hsm, dir } = setup();
    const r = cli(hsm, ['tokens', '--pkcs11-module', SOFTHSM_MODULE, '--login', 'gen', '--pin-fd', '0', '--socket', path.join(dir, 'none.sock')], '11112222\n');
    assert.equal(r.status, 1, r.stdout);
    assert.match(r.stderr, /^tlspool tokens: the token refused the PIN: it is not the right one \(CKR_PIN_INCORRECT\)\n$/);
  });

  test('on a terminal a wrong PIN is asked again, few tries left only as the token says, and the right one is confirmed', GUARD, async () => {
    const { hsm, dir } = setup();
    // script(1) gives the command a real pseudo-terminal; what is written to its stdin is typed there.
    const cmd = `${process.execPath} ${CLI} tokens --pkcs11-module ${SOFTHSM_MODULE} --login gen --socket ${path.join(dir, 'none.sock')}`;
    const child = spawn('script', ['-qfec', cmd, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...hsm.env } });
    cleanups.push(() => void (child.exitCode === null && child.signalCode === null && child.kill('SIGKILL')));
    let screen = '';
    child.stdout!.setEncoding('utf8').on('data', (s: string) => (screen += s));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const questions = () => (screen.match(/PIN for token "gen": /g) ?? []).length;
    await waitFor('the question', () => questions() === 1);
    assert.doesNotMatch(screen, /Wrong PIN|tries left|FINAL TRY/, 'nothing to warn of yet');
    child.stdin!.write('11112222\r');
    await waitFor('the question again', () => questions() === 2);
    // What the token now says of its PIN (SoftHSM: count low after a wrong one), from the token itself.
    const flags = spawnSync('pkcs11-tool', ['--module', SOFTHSM_MODULE, '--list-token-slots'], { encoding: 'utf8', env: { ...process.env, ...hsm.env } });
    assert.equal(flags.status, 0, flags.stderr);
    const countLow = /PIN count low/i.test(flags.stdout);
    assert.match(screen, /Wrong PIN for token "gen"\./);
    assert.equal(/Few tries left\./.test(screen), countLow, `"Few tries left" shown exactly when the token says so:\n${flags.stdout}`);
    assert.doesNotMatch(screen, /FINAL TRY/);
    child.stdin!.write(`${PIN}\r`);
    assert.equal(await exited, 0, screen);
    assert.match(screen, /PIN accepted/);
    assert.match(screen, /private key "gen-key"|no objects visible$/m);
    assert.equal(questions(), 2);
    assert.ok(!screen.includes(PIN), 'the PIN is not echoed');
  });
});

describe('identity add with a key on a token', () => {
  const ALICE = 'alice@example.test';
  const add = (hsm: SoftHsm, stateDir: string, id: string, cert: string, key: string, pin = `${PIN}\n`) =>
    cli(hsm, ['identity', 'add', id, '--cert', cert, '--key', key, '--pkcs11-module', SOFTHSM_MODULE, '--pin-fd', '0', '--state-dir', stateDir], pin);
  const listed = (hsm: SoftHsm, stateDir: string) => cli(hsm, ['identity', 'list', '--state-dir', stateDir]).stdout;

  test('checks that the token and the key exist and that the key is the certificate\'s, as for a key file', GUARD, () => {
    const { hsm, stateDir } = setup();
    hsm.importKey({ token: 'gen', pin: PIN, keyPath: pki.client.keyPath, object: 'alice', id: '0a' });
    const key = 'pkcs11:token=gen;object=alice;type=private';

    const noToken = add(hsm, stateDir, ALICE, pki.client.chainPath, 'pkcs11:token=nope;object=alice;type=private');
    assert.equal(noToken.status, 1, noToken.stdout);
    assert.match(noToken.stderr, /^tlspool identity: no token labelled "nope"; there are: "gen"/);

    const noKey = add(hsm, stateDir, ALICE, pki.client.chainPath, 'pkcs11:token=gen;object=bob;type=private');
    assert.equal(noKey.status, 1, noKey.stdout);
    assert.match(noKey.stderr, /^tlspool identity: token "gen" has no private key with object "bob"/);

    const otherCert = add(hsm, stateDir, SERVER_NAME, pki.server.chainPath, key);
    assert.equal(otherCert.status, 1, otherCert.stdout);
    assert.match(otherCert.stderr, /^tlspool identity: the key object "alice" on token "gen" does not belong to the certificate/);
    assert.match(listed(hsm, stateDir), /^no local identities/, 'nothing was added');

    const ok = add(hsm, stateDir, ALICE, pki.client.chainPath, key);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /^added alice@example\.test \(default\), key pkcs11:token=gen;object=alice;type=private \(checked against the public key of object "alice" on token "gen"\)$/m);
    assert.ok(!ok.stdout.includes(PIN) && !ok.stderr.includes(PIN));
  });

  test('with no public object beside the key, it logs in and checks a signature; a wrong PIN is a sentence', GUARD, () => {
    const { hsm, stateDir } = setup();
    hsm.importKey({ token: 'gen', pin: PIN, keyPath: pki.client.keyPath, object: 'alice', id: '0a' });
    // Only the private key is left on the token.
    const del = spawnSync('pkcs11-tool', ['--module', SOFTHSM_MODULE, '--token-label', 'gen', '--login', '--pin', PIN, '--delete-object', '--type', 'pubkey', '--label', 'alice'], {
      encoding: 'utf8',
      env: { ...process.env, ...hsm.env },
    });
    assert.equal(del.status, 0, del.stderr);
    const key = 'pkcs11:token=gen;object=alice;type=private';

    const wrongPin = add(hsm, stateDir, ALICE, pki.client.chainPath, key, '11112222\n');
    assert.equal(wrongPin.status, 1, wrongPin.stdout);
    assert.match(wrongPin.stderr, /^tlspool identity: the token refused the PIN: it is not the right one \(CKR_PIN_INCORRECT\)$/m);

    const otherCert = add(hsm, stateDir, SERVER_NAME, pki.server.chainPath, key);
    assert.equal(otherCert.status, 1, otherCert.stdout);
    assert.match(otherCert.stderr, /does not belong to the certificate \(its signature does not verify\)/);

    const ok = add(hsm, stateDir, ALICE, pki.client.chainPath, key);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /\(checked with a signature by object "alice" on token "gen"\)/);
  });
});
