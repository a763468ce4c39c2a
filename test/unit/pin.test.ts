/**
 * The PIN broker's pure parts: the prompt text (what a person reads, within
 * 128 bytes) and the PIN cache (copies, wiping, idle and hard limits, where
 * a PIN came from).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { type CacheEntry, type ExpiryReason, PinCache } from '../../src/daemon/pin/cache';
import { promptText } from '../../src/daemon/pin/prompt';
import { tokenRef, uriOnToken } from '../../src/daemon/pin/token';
import { waitFor } from '../../harness/wait';

const URL = 'pkcs11:model=SoftHSM%20v2;manufacturer=SoftHSM%20project;serial=1a2b3c;token=work%20token';

describe('token references', () => {
  test('the fields of a GnuTLS token URL, decoded', () => {
    const t = tokenRef(URL);
    assert.deepEqual([t.label, t.manufacturer, t.model, t.serial], ['work token', 'SoftHSM project', 'SoftHSM v2', '1a2b3c']);
    assert.ok(uriOnToken('pkcs11:token=work%20token;object=alice;type=private', t));
    assert.ok(!uriOnToken('pkcs11:token=other;object=alice', t));
    assert.ok(!uriOnToken('pkcs11:object=alice', t), 'a URI that names no token is not known to be on this one');
  });
});

describe('prompt text', () => {
  const token = tokenRef(URL);
  const base = { token, wrong: false, finalTry: false, countLow: false };

  test('names the token, the requesting program with its pid, and the peer', () => {
    const text = promptText({ ...base, requester: { pid: 4242, executable: '/usr/bin/curl' }, peer: 'example.org (192.0.2.1:443)' });
    assert.equal(text, 'PIN for token "work token" for /usr/bin/curl[4242] to example.org (192.0.2.1:443)');
    // With its command line: the program as a person knows it, not "node".
    const tunnel = promptText({ ...base, requester: { pid: 4242, executable: '/usr/bin/node', command: ['/usr/bin/node', '/opt/tlspool/bin/tlspool.js', 'tunnel', '--server', '--listen', ':8443'] } });
    assert.equal(tunnel, 'PIN for token "work token" for tlspool tunnel --server --listen :8443 [4242]');
  });

  test('says when the last PIN was wrong, and when this is the final try or few tries are left', () => {
    assert.match(promptText({ ...base, wrong: true }), /^Wrong PIN, try again\. PIN for token/);
    assert.match(promptText({ ...base, wrong: true, finalTry: true }), /^Wrong PIN, try again\. FINAL TRY before the token locks\. /);
    assert.match(promptText({ ...base, countLow: true }), /^Few tries left\. /);
  });

  test('fits in 127 bytes: a long executable path shrinks to its name first', () => {
    const exe = `/opt/${'very-long-directory/'.repeat(6)}client`;
    const text = promptText({ ...base, wrong: true, requester: { pid: 7, executable: exe }, peer: 'mail.example.org (192.0.2.1:993)' });
    assert.ok(Buffer.byteLength(text) <= 127, text);
    assert.match(text, /for client\[7\] to mail\.example\.org/);
    const huge = promptText({ ...base, requester: { pid: 7, executable: exe }, peer: 'x'.repeat(300) });
    assert.ok(Buffer.byteLength(huge) <= 127);
  });
});

describe('PIN cache', () => {
  const token = tokenRef(URL);
  const pin = () => new TextEncoder().encode('123456');

  test('hands out copies; put keeps its own copy; expire wipes and reports', () => {
    const expired: Array<[CacheEntry, ExpiryReason]> = [];
    const cache = new PinCache(() => ({ idleMs: 60_000, maxMs: 60_000 }), (e, r) => expired.push([e, r]));
    const given = pin();
    cache.put(token, given, 'pkcs11:token=work%20token;object=a');
    given.fill(0);
    const a = cache.get(token)!;
    assert.equal(new TextDecoder().decode(a), '123456');
    a.fill(0);
    assert.equal(new TextDecoder().decode(cache.get(token)!), '123456', 'wiping a copy leaves the cache intact');
    cache.expire(token, 'lock');
    assert.equal(cache.get(token), undefined);
    assert.equal(expired.length, 1);
    assert.equal(expired[0]![1], 'lock');
    assert.ok(expired[0]![0].keyUris.has('pkcs11:token=work%20token;object=a'));
  });

  test('a wrong PIN is forgotten without locking the token', () => {
    const expired: ExpiryReason[] = [];
    const cache = new PinCache(() => ({ idleMs: 60_000, maxMs: 60_000 }), (_e, r) => expired.push(r));
    cache.put(token, pin(), '');
    cache.expire(token, 'wrong');
    assert.equal(cache.has(token), false);
    assert.deepEqual(expired, []);
  });

  test('remembers where a PIN came from: put again for another key it keeps its source, a new PIN brings its own', () => {
    const cache = new PinCache(() => ({ idleMs: 60_000, maxMs: 60_000 }), () => {});
    assert.equal(cache.source(token), undefined);
    cache.put(token, pin(), 'pkcs11:token=work%20token;object=a', 'config');
    cache.put(token, cache.get(token)!, 'pkcs11:token=work%20token;object=b');
    assert.equal(cache.source(token), 'config');
    cache.put(token, pin(), 'pkcs11:token=work%20token;object=a', 'program');
    assert.equal(cache.source(token), 'program');
    cache.expire(token, 'wrong');
    assert.equal(cache.source(token), undefined);
  });

  test('an entry expires after its idle time, and at its hard maximum however much it is used', async () => {
    const reasons: ExpiryReason[] = [];
    const idle = new PinCache(() => ({ idleMs: 20, maxMs: 60_000 }), (_e, r) => reasons.push(r));
    idle.put(token, pin(), 'k');
    await waitFor('idle expiry', () => reasons.length === 1);
    assert.deepEqual(reasons, ['idle']);

    const max = new PinCache(() => ({ idleMs: 60_000, maxMs: 50 }), (_e, r) => reasons.push(r));
    max.put(token, pin(), 'k');
    await waitFor('hard expiry', () => {
      max.touch('k'); // used all the time
      return reasons.length === 2;
    });
    assert.deepEqual(reasons, ['idle', 'max']);
  });
});
