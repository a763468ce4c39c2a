/**
 * The pieces of V2 sessions that need no daemon: the control-key registry's
 * detach limits and lifetime, the role flags, the PRNG label rule and the
 * DER names INFO answers with (read from the test PKI's certificates, whose
 * names openssl put there).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { type Controlled, CtlKeys, type SessionFacts } from '../../src/daemon/v2/ctlkeys';
import { certNames } from '../../src/daemon/v2/cert-der';
import { labelRefusal } from '../../src/daemon/v2/prng';
import { roleOf } from '../../src/daemon/v2/starttls-v2';
import { TlspFailure } from '../../src/protocol/v2-errors';
import { Failure } from '../../src/model/failure';
import { CLIENT_EMAIL, getPki, SERVER_NAME } from '../../harness/pki';
import { waitFor } from '../../harness/wait';

const facts = {} as SessionFacts;

function session(fork = false): Controlled & { ended: number } {
  const s = { ownerUid: 1000, fork, control: undefined, ended: 0, end: () => s.ended++ };
  return s;
}

function established(keys: CtlKeys, key: string, s: Controlled, control: number | undefined): void {
  keys.register(key, s);
  keys.established(s, facts, control);
}

const tlsp = (name: string) => (e: unknown) => e instanceof TlspFailure && e.tlsp === name;

test('a reserved key (handshake running) is not found by DETACH, REATTACH or PRNG, and cannot be registered twice', () => {
  const keys = new CtlKeys();
  const s = session();
  keys.register('k', s);
  assert.throws(() => keys.detach('k', 1), tlsp('E_TLSPOOL_CTLKEY_NOT_FOUND'));
  assert.throws(() => keys.reattach('k', 1, 1000), tlsp('E_TLSPOOL_CTLKEY_NOT_FOUND'));
  assert.throws(() => keys.controlled('k', 1), tlsp('E_TLSPOOL_CTLKEY_NOT_FOUND'));
  assert.throws(() => keys.register('k', session()), tlsp('E_TLSPOOL_CTLKEY_REGISTRATION_FAILED'));
  keys.forget('k', s);
  assert.equal(keys.size, 0);
});

test('REATTACH is refused to another uid and allowed to the owner and to root', () => {
  const keys = new CtlKeys();
  const s = session();
  established(keys, 'k', s, undefined);
  assert.throws(() => keys.reattach('k', 7, 1001), tlsp('E_TLSPOOL_CTLKEY_NOT_FOUND'));
  keys.reattach('k', 7, 1000);
  keys.detach('k', 7);
  keys.reattach('k', 8, 0);
  assert.equal(s.control, 8);
});

test('detached sessions are bounded: DETACH beyond the limit is EBUSY, a FORK session past it ends', () => {
  const keys = new CtlKeys(() => ({ detached_sessions: 1, detached_lifetime: 3600 }));
  const [a, b, c] = [session(), session(), session(true)];
  established(keys, 'a', a, 1);
  established(keys, 'b', b, 1);
  established(keys, 'c', c, 2);
  keys.detach('a', 1);
  assert.throws(() => keys.detach('b', 1), (e) => e instanceof Failure && e.code === 'EBUSY' && /limits\.detached_sessions/.test(e.message));
  keys.connectionClosed(2);
  assert.equal(c.ended, 1, 'the FORK session found no room and ended');
  keys.connectionClosed(1);
  assert.equal(b.ended, 1, 'a session without FORK ends with its connection');
  assert.equal(a.ended, 0, 'the detached session lives on');
  keys.endAll();
});

test('a session detached longer than limits.detached_lifetime is ended; a REATTACH in time keeps it', async () => {
  const keys = new CtlKeys(() => ({ detached_sessions: 10, detached_lifetime: 1 }));
  const [gone, kept] = [session(), session()];
  established(keys, 'gone', gone, undefined);
  established(keys, 'kept', kept, undefined);
  keys.reattach('kept', 3, 1000);
  assert.equal(keys.detachedCount, 1);
  await waitFor('the detached session to be ended', () => gone.ended === 1, 20000);
  assert.equal(keys.detachedCount, 0);
  assert.equal(kept.ended, 0);
});

test('roles come from the four role bits; peer-to-peer and no role are COMMAND_NOTIMPL', () => {
  for (const f of [0x9, 0xb, 0xd]) assert.equal(roleOf(f), 'client');
  for (const f of [0x6, 0x7, 0xe]) assert.equal(roleOf(f), 'server');
  for (const f of [0x0, 0x1, 0x5, 0xa, 0xf]) assert.throws(() => roleOf(f), tlsp('E_TLSPOOL_COMMAND_NOTIMPL'));
});

test('PRNG labels: registered ones and EXPERIMENTAL… pass; TLS\'s own, the bare prefix and others are refused', () => {
  for (const l of ['EXPERIMENTAL-tlspool-test', 'ttls keying material', 'EXPORTER-Channel-Binding', 'EXTRACTOR-dtls_srtp']) assert.equal(labelRefusal(l), undefined, l);
  for (const l of ['master secret', 'key expansion', 'client finished', 'server finished']) assert.match(labelRefusal(l) ?? '', /reserved/);
  for (const l of ['EXPERIMENTAL', 'experimental-x', 'my label', 'ttls keying material ']) assert.ok(labelRefusal(l), l);
});

test('INFO names: subject and issuer DER match the certificate, subjectAltName entries are whole GeneralNames', () => {
  const pki = getPki();
  const server = certNames(pki.server.der)!;
  const client = certNames(pki.client.der)!;
  const ca = certNames(pki.ca.der)!;
  assert.ok(server && client && ca);
  assert.deepEqual(server.issuer, ca.subject);
  assert.deepEqual(client.issuer, ca.subject);
  assert.equal(server.subject[0], 0x30);
  // The subject's bytes are inside the certificate exactly once, where openssl put them.
  assert.ok(pki.server.der.includes(server.subject));
  assert.match(new X509Certificate(pki.server.der).subject, new RegExp(SERVER_NAME.replace(/\./g, '\\.')));
  assert.deepEqual(server.altNames, [Buffer.concat([Buffer.from([0x82, SERVER_NAME.length]), Buffer.from(SERVER_NAME)])]);
  assert.deepEqual(client.altNames, [Buffer.concat([Buffer.from([0x81, CLIENT_EMAIL.length]), Buffer.from(CLIENT_EMAIL)])]);
  assert.equal(certNames(Buffer.from([0x30, 0x82, 0xff])), undefined);
});
