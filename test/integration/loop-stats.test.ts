/**
 * LOCAL LOOP_STATS: the daemon tells how late its event loop runs, for
 * benchmarks; a reset starts a new window.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PoolClient } from '../../src/client/pool-client';
import { startDaemon } from '../../harness/daemon';

test('LOOP_STATS answers the event-loop delay since the last reset, and a reset starts a new window', async () => {
  const daemon = await startDaemon();
  const client = PoolClient.connect(daemon.socket);
  try {
    const first = await client.loopStats(true);
    for (const k of ['p50', 'p99', 'max', 'mean', 'n', 'ms'] as const) assert.equal(typeof first[k], 'number', k);
    // Some samples are taken while the daemon serves pings.
    for (let i = 0; i < 20; i++) await client.ping();
    await new Promise((r) => setTimeout(r, 100));
    const later = await client.loopStats(true);
    assert.ok(later.n > 0, `no samples in ${later.ms} ms`);
    assert.ok(later.p50 <= later.p99 && later.p99 <= later.max, JSON.stringify(later));
    const fresh = await client.loopStats();
    assert.ok(fresh.n < later.n || fresh.ms < later.ms, `a reset window is new: ${JSON.stringify({ later, fresh })}`);
  } finally {
    client.close();
    assert.equal(await daemon.stop(), 0);
  }
});
