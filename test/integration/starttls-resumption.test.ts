/**
 * TLS session resumption between a pool client and a pool server: a second
 * connection resumes the first one's session (the daemon logs it so), a
 * resumed session is still validated against the current trust, and
 * IGNORE_CACHES or a server that named no identity make a full handshake.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { StartTlsFlag } from '../../src/protocol/constants';
import { getPki, SERVER_NAME } from '../../harness/pki';
import { HANG_GUARD_MS, type Pool, Plaintext, poolToPool, rejection, startPool, TcpListener } from '../../harness/starttls';

const pki = getPki();
const GUARD = { timeout: HANG_GUARD_MS * 3 };

/** The daemon's "STARTTLS established" lines, oldest first. */
function established(pool: Pool): Array<{ role: string; resumed: boolean; remoteid: string }> {
  return pool.daemon
    .logs()
    .split('\n')
    .filter((l) => l.includes('"STARTTLS established"'))
    .map((l) => JSON.parse(l) as { role: string; resumed: boolean; remoteid: string });
}

/** One connection client -> server through the pool, a line each way, then closed by both. */
async function roundTrip(pool: Pool, listener: TcpListener, clientFlags = 0): Promise<string> {
  const [c, s] = await poolToPool(
    pool,
    listener,
    { remoteid: SERVER_NAME, flags: clientFlags, onLocalId: () => '' },
    { localid: SERVER_NAME, flags: StartTlsFlag.IGNORE_REMOTEID },
  );
  const app = new Plaintext(c.fd);
  const backend = new Plaintext(s.fd);
  app.write('ping\n');
  await backend.until('ping\n');
  backend.write('pong\n');
  await app.until('pong\n');
  await Promise.all([app.close(), backend.close()]);
  return c.remoteid;
}

describe('TLS session resumption', () => {
  let pool: Pool;
  let listener: TcpListener;

  before(async () => {
    pool = await startPool({
      identities: [[SERVER_NAME, pki.server]],
      trust: [pki.ca],
      // Every handshake, resumed or not, validates the peer afresh.
      tls: { validation_cache_ttl: 0 },
    });
    listener = await TcpListener.open();
  });
  after(async () => {
    await listener.close();
    await pool.stop();
  });

  it('a second connection to the same pool server resumes the session, and the client still learns the server identity', GUARD, async () => {
    assert.equal(await roundTrip(pool, listener), SERVER_NAME);
    assert.equal(await roundTrip(pool, listener), SERVER_NAME);
    const lines = established(pool);
    assert.equal(lines.length, 4, JSON.stringify(lines));
    assert.deepEqual(
      lines.slice(0, 2).map((l) => l.resumed),
      [false, false],
      'the first connection is a full handshake',
    );
    assert.deepEqual(
      lines.slice(2).map((l) => l.resumed),
      [true, true],
      'both ends of the second connection resumed',
    );
  });

  it('IGNORE_CACHES makes a full handshake even with a ticket at hand', GUARD, async () => {
    await roundTrip(pool, listener);
    const before = established(pool).length;
    await roundTrip(pool, listener, StartTlsFlag.IGNORE_CACHES);
    const lines = established(pool).slice(before);
    assert.equal(lines.length, 2);
    assert.ok(lines.every((l) => !l.resumed), JSON.stringify(lines));
  });

  it('a resumed session is validated against the current trust: without the CA the client refuses with EACCES', GUARD, async () => {
    await roundTrip(pool, listener); // leaves a ticket for the next connection
    pool.cli(['trust', 'remove', pki.ca.sha256]);
    try {
      const err = await rejection(roundTrip(pool, listener));
      assert.equal(err.code, 'EACCES', err.message);
    } finally {
      pool.cli(['trust', 'add', pki.ca.certPath]);
    }
  });
});
