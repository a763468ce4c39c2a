/**
 * `tlspool identity tlsa`: the record it prints for a local identity is the
 * one `danetool --tlsa-rr` prints for the same certificate, byte for byte.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLI, tempDir } from '../../harness/daemon';
import { tlsaRecord } from '../../harness/dns';
import { getPki, SERVER_NAME, type TestPki } from '../../harness/pki';
import { tlspoolCli } from '../../harness/starttls';

let pki: TestPki;
let dir: string;
let stateDir: string;
const cli = (args: string[]) => tlspoolCli(stateDir, args);

before(() => {
  pki = getPki();
  dir = tempDir('tlspool-tlsa-');
  stateDir = path.join(dir, 'state');
  cli(['identity', 'add', SERVER_NAME, '--cert', pki.intermediateServer.chainPath, '--key', pki.intermediateServer.keyPath]);
  cli(['identity', 'add', 'alice@example.test', '--cert', pki.client.chainPath, '--key', pki.client.keyPath]);
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

for (const [usage, selector, matching] of [[3, 1, 1], [3, 0, 1], [3, 1, 2], [1, 1, 1], [1, 0, 2]] as const) {
  test(`--usage ${usage} --selector ${selector} --matching ${matching} is what danetool prints`, () => {
    const ours = cli(['identity', 'tlsa', SERVER_NAME, '--usage', String(usage), '--selector', String(selector), '--matching', String(matching), '--port', '8443']);
    const theirs = tlsaRecord(pki.intermediateServer.certPath, SERVER_NAME, 8443, { usage, selector, matching });
    assert.equal(ours.trim(), theirs);
  });
}

test('the defaults are DANE-EE, public key, SHA-256 at _443._tcp, as danetool\'s', () => {
  const theirs = tlsaRecord(pki.intermediateServer.certPath, SERVER_NAME, 443, { usage: 3, selector: 1, matching: 1 });
  assert.equal(cli(['identity', 'tlsa', SERVER_NAME]).trim(), theirs);
});

test('DANE-TA names the CA at the end of the chain, as danetool --ca does for it', () => {
  const ca = path.join(dir, 'intermediate.pem');
  fs.writeFileSync(ca, fs.readFileSync(pki.intermediateServer.chainPath, 'utf8').split(/(?<=-----END CERTIFICATE-----\n)/)[1]!);
  const theirs = tlsaRecord(ca, SERVER_NAME, 25, { usage: 2, selector: 1, matching: 1 });
  assert.equal(cli(['identity', 'tlsa', SERVER_NAME, '--usage', '2', '--port', '25']).trim(), theirs);
});

test('a user@domain identity gets the record of its domain, over UDP when asked', () => {
  const theirs = tlsaRecord(pki.client.certPath, 'example.test', 5061, { usage: 3, selector: 1, matching: 1 }, 'udp');
  assert.equal(cli(['identity', 'tlsa', 'alice@example.test', '--port', '5061', '--proto', 'udp']).trim(), theirs);
});

test('matching type 0 carries the public key itself (openssl pkey)', () => {
  const spki = execFileSync('sh', ['-c', `openssl x509 -in ${pki.intermediateServer.certPath} -pubkey -noout | openssl pkey -pubin -outform DER`]);
  const line = cli(['identity', 'tlsa', SERVER_NAME, '--matching', '0']);
  assert.equal(line.trim(), `_443._tcp.${SERVER_NAME}. IN TLSA ( 03 01 00 ${spki.toString('hex')} )`);
});

test('refusals: an unknown identity, a TA record without a CA, a bad option', () => {
  const run = (args: string[]) => spawnSync(process.execPath, [CLI, 'identity', 'tlsa', ...args, '--state-dir', stateDir], { encoding: 'utf8' });
  const unknown = run(['nobody.example.test']);
  assert.equal(unknown.status, 1);
  assert.match(unknown.stderr, /no local identity nobody\.example\.test/);
  const noCa = run(['alice@example.test', '--usage', '2']);
  assert.equal(noCa.status, 1);
  assert.match(noCa.stderr, /holds no CA certificate/);
  const bad = run([SERVER_NAME, '--selector', '7']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--selector must be 0 to 1/);
});
