/** `tlspool identity` and `tlspool trust` as a person uses them, on a real state database. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { CLI, tempDir } from '../../harness/daemon';
import { getPki, SERVER_NAME, CLIENT_EMAIL } from '../../harness/pki';

function tlspool(stateDir: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args, '--state-dir', stateDir], { encoding: 'utf8', timeout: 30000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('tlspool identity', () => {
  const pki = getPki();

  test('an expired certificate: add warns, list marks it', () => {
    const d = tempDir();
    try {
      const r = tlspool(d, 'identity', 'add', SERVER_NAME, '--cert', pki.expired.chainPath, '--key', pki.expired.keyPath);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, new RegExp(`warning: the certificate of ${SERVER_NAME.replace(/\./g, '\\.')} expired on 2001-01-01; peers will refuse it`));
      assert.match(tlspool(d, 'identity', 'list').stdout, /EXPIRED on 2001-01-01/);
      assert.equal(JSON.parse(tlspool(d, 'identity', 'list', '--json').stdout)[0].validity, 'expired');
      const fresh = tlspool(d, 'identity', 'add', CLIENT_EMAIL, '--cert', pki.client.chainPath, '--key', pki.client.keyPath);
      assert.equal(fresh.stderr, '', 'a valid certificate is added without a word on stderr');
    } finally {
      fs.rmSync(d, { recursive: true, force: true });
    }
  });

  test('add, list with the default marked, change the default, remove', () => {
    const d = tempDir();
    assert.equal(tlspool(d, 'identity', 'add', SERVER_NAME, '--cert', pki.server.chainPath, '--key', pki.server.keyPath).code, 0);
    const r = tlspool(d, 'identity', 'add', CLIENT_EMAIL, '--cert', pki.client.chainPath, '--key', pki.client.keyPath);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^added ${CLIENT_EMAIL}, key ${pki.client.keyPath}`));
    let list = JSON.parse(tlspool(d, 'identity', 'list', '--json').stdout);
    assert.deepEqual(list.map((i: { localid: string; default: boolean }) => [i.localid, i.default]), [
      [CLIENT_EMAIL, false],
      [SERVER_NAME, true],
    ]);
    assert.equal(tlspool(d, 'identity', 'default', CLIENT_EMAIL).code, 0);
    assert.match(tlspool(d, 'identity', 'list').stdout, new RegExp(`^\\* ${CLIENT_EMAIL.replace('.', '\\.')} `, 'm'));
    assert.equal(tlspool(d, 'identity', 'remove', SERVER_NAME).code, 0);
    list = JSON.parse(tlspool(d, 'identity', 'list', '--json').stdout);
    assert.deepEqual(list.map((i: { localid: string }) => i.localid), [CLIENT_EMAIL]);
  });

  test('a certificate that does not name the identity is refused, saying what it names', () => {
    const r = tlspool(tempDir(), 'identity', 'add', 'www.example.test', '--cert', pki.server.chainPath, '--key', pki.server.keyPath);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /does not name www\.example\.test; it names: server\.example\.test/);
  });

  test('a key that does not belong to the certificate is refused', () => {
    const r = tlspool(tempDir(), 'identity', 'add', SERVER_NAME, '--cert', pki.server.chainPath, '--key', pki.client.keyPath);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /does not belong to the certificate/);
  });

  test('adding an identity twice needs --replace; removing an unknown one says so', () => {
    const d = tempDir();
    const add = (...extra: string[]) => tlspool(d, 'identity', 'add', SERVER_NAME, '--cert', pki.server.chainPath, '--key', pki.server.keyPath, ...extra);
    assert.equal(add().code, 0);
    const again = add();
    assert.equal(again.code, 1);
    assert.match(again.stderr, /exists; remove it first or use --replace/);
    assert.equal(add('--replace').code, 0);
    const gone = tlspool(d, 'identity', 'remove', 'nobody.example.test');
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /no identity nobody\.example\.test/);
  });

  test('a string that is not a domain or user@domain is refused', () => {
    const r = tlspool(tempDir(), 'identity', 'add', 'not a name', '--cert', pki.server.chainPath, '--key', pki.server.keyPath);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /is not an identity: use a domain/);
  });
});

describe('tlspool trust', () => {
  const pki = getPki();

  test('add, list, and remove by a fingerprint prefix', () => {
    const d = tempDir();
    const added = tlspool(d, 'trust', 'add', pki.ca.certPath);
    assert.equal(added.code, 0, added.stderr);
    assert.match(added.stdout, new RegExp(`sha256 ${pki.ca.sha256}`));
    assert.match(tlspool(d, 'trust', 'add', pki.ca.certPath).stdout, /already trusted/);
    const list = JSON.parse(tlspool(d, 'trust', 'list', '--json').stdout);
    assert.deepEqual(list.map((a: { sha256: string }) => a.sha256), [pki.ca.sha256]);
    const removed = tlspool(d, 'trust', 'remove', pki.ca.sha256.slice(0, 12));
    assert.equal(removed.code, 0, removed.stderr);
    assert.match(removed.stdout, /no longer trusted: .*TLS Pool Test CA/);
    assert.deepEqual(JSON.parse(tlspool(d, 'trust', 'list', '--json').stdout), []);
  });

  test('a certificate that is not a CA is refused as a trust anchor', () => {
    const r = tlspool(tempDir(), 'trust', 'add', pki.server.certPath);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /is not a CA certificate/);
  });

  test('too short a fingerprint is refused with what to give instead', () => {
    const r = tlspool(tempDir(), 'trust', 'remove', 'abc');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /at least 8 hex digits/);
  });
});
