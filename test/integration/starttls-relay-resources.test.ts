/**
 * What an established connection costs the daemon while it is idle: no
 * thread of its own (a few relay threads serve them all) and two
 * descriptors per TLS end (the socket and the plaintext socketpair end).
 * Data still flows on every connection afterwards.
 */
import * as fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { PoolClient } from '../../src/client/pool-client';
import { StartTlsFlag } from '../../src/protocol/constants';
import { getPki, SERVER_NAME } from '../../harness/pki';
import { HANG_GUARD_MS, type Pool, Plaintext, poolToPool, startPool, TcpListener } from '../../harness/starttls';
import { waitFor } from '../../harness/wait';

const pki = getPki();
const N = 40;

function threads(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/task`).length;
}

describe('idle established connections', () => {
  let pool: Pool;
  let listener: TcpListener;

  before(async () => {
    pool = await startPool({ identities: [[SERVER_NAME, pki.server]], trust: [pki.ca] });
    listener = await TcpListener.open();
  });
  after(async () => {
    await listener.close();
    await pool.stop();
  });

  it(`${N} connections through one daemon add no threads and two descriptors per TLS end, and all still carry data`, { timeout: HANG_GUARD_MS * 3 }, async () => {
    const pid = pool.daemon.pid;
    // One connection first, so that the relay threads and GnuTLS are up.
    const warm = await poolToPool(pool, listener, { remoteid: SERVER_NAME, onLocalId: () => '' }, { localid: SERVER_NAME, flags: StartTlsFlag.IGNORE_REMOTEID });
    const warmEnds = warm.map((r) => new Plaintext(r.fd));
    const serverSide = PoolClient.connect(pool.daemon.socket);
    await serverSide.ping();
    const threadsBefore = threads(pid);
    const fdsBefore = pool.daemon.fdCount();

    const ends: Plaintext[][] = [];
    for (let i = 0; i < N; i++) {
      const [c, s] = await poolToPool(
        pool,
        listener,
        { remoteid: SERVER_NAME, onLocalId: () => '' },
        { localid: SERVER_NAME, flags: StartTlsFlag.IGNORE_REMOTEID },
        serverSide,
      );
      ends.push([new Plaintext(c.fd), new Plaintext(s.fd)]);
    }
    try {
      // Handshake threads end once their session is handed to a relay thread.
      // The slack is libuv's thread pool, which may start meanwhile; a thread
      // per connection would be 2 * N more.
      await waitFor(`at most ${threadsBefore + 4} threads (now ${threads(pid)})`, () => threads(pid) <= threadsBefore + 4, HANG_GUARD_MS);
      await waitFor(`${N * 4} more descriptors (now ${pool.daemon.fdCount() - fdsBefore})`, () => pool.daemon.fdCount() - fdsBefore === N * 4, HANG_GUARD_MS);
      for (const [i, [app]] of ends.entries()) app!.write(`hello ${i}\n`);
      for (const [i, [, backend]] of ends.entries()) await backend!.until(`hello ${i}\n`);
    } finally {
      await Promise.all([...ends.flat(), ...warmEnds].map((e) => e.close()));
      serverSide.close();
    }
    await waitFor('the daemon back to its descriptors', () => pool.daemon.fdCount() <= fdsBefore - 4 - 1, HANG_GUARD_MS);
  });
});
