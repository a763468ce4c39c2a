/**
 * The daemon's lifecycle as a second daemon, a supervisor and the connection
 * log see it: a daemon refused because another serves the socket must not
 * touch that daemon's state, and the rows a killed daemon left open are ended
 * only by the daemon that then takes the socket.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon } from '../../harness/daemon';
import { CLIENT_EMAIL, SERVER_NAME } from '../../harness/pki';
import { Plaintext, poolToPool, startExamplePool, TcpListener } from '../../harness/starttls';

test("a second daemon refused on a live socket leaves the first one's connection log alone", async () => {
  const pool = await startExamplePool();
  const listener = await TcpListener.open();
  try {
    const [c, s] = await poolToPool(pool, listener, { localid: CLIENT_EMAIL, remoteid: SERVER_NAME }, { localid: SERVER_NAME });
    const live = () => pool.connections().filter((r) => r.state === 'established');
    assert.equal(live().length, 2, 'both ends are established and logged');

    await assert.rejects(startDaemon({ dir: pool.daemon.dir }), /already serving/);

    const after = pool.connections();
    assert.deepEqual(
      after.map((r) => [r.role, r.state, r.endReason ?? null]).sort(),
      [
        ['client', 'established', null],
        ['server', 'established', null],
      ],
      'the refused daemon ended none of the live connections',
    );
    // They still carry data, and end as they should when closed.
    const cp = new Plaintext(c.fd);
    const sp = new Plaintext(s.fd);
    cp.write('still here');
    await sp.until('still here');
    await cp.close();
    await sp.close();
  } finally {
    await listener.close();
    await pool.stop();
  }
});
