/**
 * Soak (hardening suite): steady STARTTLS traffic through one daemon for a
 * bounded time (CI: 35 s, half of it warm-up; full: four minutes), with the daemon's RSS
 * and fd count sampled all along. After a warm-up, the mean of the last
 * third of the samples is compared with the mean of the first third: steady
 * growth fails the test. Afterwards the daemon must hold exactly the fds it
 * held before the traffic. Nothing here asserts on how fast it went.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PoolClient } from '../../src/client/pool-client';
import { TLSPOOL_IDENTITY_V1 } from '../../src/protocol';
import { guardMs, HARD } from '../../harness/hard-size';
import { fdSummary } from '../../harness/pool-tls';
import { startExamplePool } from '../../harness/starttls';
import { procStats, Traffic } from '../../harness/traffic';
import { waitForValue } from '../../harness/wait';

/** Connections in flight at any moment. */
const PARALLEL = 8;
const SAMPLE_MS = 250;
/** The first part of the run is warm-up, not compared (see RSS_TOLERANCE). */
const WARMUP = HARD.label === 'full' ? 0.25 : 0.5;
/**
 * Allowed rise of the last third's mean RSS over the first third's. Measured
 * here: the RSS climbs for the first five to eight thousand connections
 * (V8 sizing its heap, the allocator its arenas) and then levels off, rising
 * by a few percent over the next ten thousand. The full run, past that point, allows
 * 10%; the CI run is still on the slope and allows 30%, which a leak of one
 * session's memory per connection (tens of kB) still exceeds.
 */
const RSS_TOLERANCE = HARD.label === 'full' ? 0.1 : 0.3;
/** Allowed rise in mean fds: the connections in flight vary from sample to sample, a leak grows without bound. */
const FD_TOLERANCE = 2 * PARALLEL;

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

test(`${HARD.soakMs / 1000} s of steady STARTTLS traffic: the daemon's RSS and fd count do not grow`, guardMs(120_000, 600_000), async (t) => {
  const pool = await startExamplePool();
  const traffic = await Traffic.open(pool.daemon.socket);
  try {
    const idleFds = pool.daemon.fdCount();
    const samples: Array<{ rssKb: number; fds: number }> = [];
    const sampler = setInterval(() => samples.push(procStats(pool.daemon.pid)), SAMPLE_MS);
    const until = Date.now() + HARD.soakMs;
    let handshakes = 0;
    const failures: string[] = [];
    const worker = async () => {
      const conn = PoolClient.connect(pool.daemon.socket);
      try {
        while (Date.now() < until) {
          const r = await traffic.relayed(conn);
          handshakes++;
          if (r.client !== 'ok' || r.server !== 'ok') failures.push(`client ${r.client}, server ${r.server}`);
        }
      } finally {
        conn.close();
      }
    };
    await Promise.all(Array.from({ length: PARALLEL }, worker));
    clearInterval(sampler);

    assert.deepEqual(failures.slice(0, 5), [], `${failures.length} of ${handshakes} connections failed`);
    const steady = samples.slice(Math.floor(samples.length * WARMUP));
    assert.ok(steady.length >= 12, `enough samples to compare (${steady.length})`);
    const third = Math.floor(steady.length / 3);
    const first = steady.slice(0, third);
    const last = steady.slice(-third);
    const rss = { first: mean(first.map((s) => s.rssKb)), last: mean(last.map((s) => s.rssKb)) };
    const fds = { first: mean(first.map((s) => s.fds)), last: mean(last.map((s) => s.fds)) };
    t.diagnostic(
      `${handshakes} relayed connections (${PARALLEL} at a time) in ${HARD.soakMs / 1000} s, ${samples.length} samples; ` +
        `mean RSS ${Math.round(rss.first)} → ${Math.round(rss.last)} kB (${(((rss.last - rss.first) / rss.first) * 100).toFixed(1)}%), ` +
        `mean fds ${fds.first.toFixed(1)} → ${fds.last.toFixed(1)}, peak RSS ${Math.max(...samples.map((s) => s.rssKb))} kB`,
    );
    assert.ok(rss.last <= rss.first * (1 + RSS_TOLERANCE), `the daemon's RSS grew: ${JSON.stringify(rss)}`);
    assert.ok(fds.last <= fds.first + FD_TOLERANCE, `the daemon's fd count grew: ${JSON.stringify(fds)}`);

    try {
      await waitForValue('daemon fd count after the soak', () => pool.daemon.fdCount(), idleFds, 30_000);
    } catch (e) {
      throw new Error(`${(e as Error).message}; the daemon holds: ${fdSummary(pool.daemon.pid)}`);
    }
    assert.equal((await pool.client.ping()).identity, TLSPOOL_IDENTITY_V1);
  } finally {
    await traffic.close();
    await pool.stop();
  }
});
