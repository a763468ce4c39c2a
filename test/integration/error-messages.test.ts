/**
 * An ERROR message carries 127 bytes. The pool writes each so that its cause
 * and its advice fit, shortening the names it mentions rather than the
 * sentence: these requests name identities as long as the wire allows and
 * check that what the client reads still ends with the advice, and that the
 * daemon never had to cut a message.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Errno, StartTlsFlag } from '../../src/protocol';
import { startOpensslServer, type Peer } from '../../harness/peers';
import { getPki, SERVER_NAME } from '../../harness/pki';
import { type Pool, rejection, startExamplePool, tcpConnect } from '../../harness/starttls';

/** A valid domain of `bytes` bytes (labels of at most 63). */
function longDomain(bytes: number, tld = 'test'): string {
  const labels: string[] = [];
  let len = tld.length;
  while (len + 2 <= bytes) {
    const n = Math.min(63, bytes - len - 1);
    labels.push('x'.repeat(n));
    len += n + 1;
  }
  return [...labels, tld].join('.');
}

const WIRE = 127;

describe('ERROR messages fit the wire with their advice', () => {
  let pool: Pool;
  const peers: Peer[] = [];

  before(async () => {
    pool = await startExamplePool();
  });
  after(async () => {
    await Promise.all(peers.map((p) => p.stop()));
    await pool.stop();
  });

  function fits(message: string): void {
    assert.ok(Buffer.byteLength(message) <= WIRE, `${Buffer.byteLength(message)} bytes: ${message}`);
  }

  test('an unknown local identity of 120 bytes: the message still says how to add one', async () => {
    const server = await startOpensslServer({ certPath: getPki().server.chainPath, keyPath: getPki().server.keyPath });
    peers.push(server);
    const fd = await tcpConnect(server.port);
    const localid = `someone@${longDomain(110)}`;
    const e = await rejection(pool.client.starttls({ role: 'client', fd, localid, remoteid: SERVER_NAME }));
    fd.close();
    assert.equal(e.errno, Errno.ENOKEY);
    fits(e.message);
    assert.match(e.message, /^no local identity someone@x+…; add one with: tlspool identity add .* --cert FILE --key FILE$/);
  });

  test('a remote identity that is no identity, 127 bytes of it: the message says what it must be', async () => {
    const server = await startOpensslServer({ certPath: getPki().server.chainPath, keyPath: getPki().server.keyPath });
    peers.push(server);
    const fd = await tcpConnect(server.port);
    const e = await rejection(pool.client.starttls({ role: 'client', fd, remoteid: `${'no identity '.repeat(10)}1234567` }));
    fd.close();
    assert.equal(e.errno, Errno.EINVAL);
    fits(e.message);
    assert.match(e.message, /^remoteid "no identity .*…" is not a domain or user@domain$/);
  });

  test('a server certificate for another name than a 120-byte remote identity: the refusal says what it names', async () => {
    const server = await startOpensslServer({ certPath: getPki().server.chainPath, keyPath: getPki().server.keyPath });
    peers.push(server);
    const fd = await tcpConnect(server.port);
    const remoteid = longDomain(120);
    const e = await rejection(pool.client.starttls({ role: 'client', fd, remoteid, flags: StartTlsFlag.SEND_SNI }));
    fd.close();
    assert.equal(e.errno, Errno.EACCES);
    fits(e.message);
    assert.match(e.message, /^TLS handshake failed: the server certificate is not for x+….* \(it names .*\)$/);
  });

  test('the daemon logged no message it had to cut', () => {
    assert.doesNotMatch(pool.daemon.logs(), /an error message was cut/);
  });
});
