/**
 * Fuzz (hardening suite): random and mutated packets, with and without fds,
 * over many connections at the live daemon. It must stay up, answer every
 * complete packet exactly once, and end with the fds it started with.
 * Sized by harness/hard-size.ts; TLSPOOL_FUZZ_SEED replays or explores.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PoolClient } from '../../src/client/pool-client';
import { TLSPOOL_IDENTITY_V1 } from '../../src/protocol';
import { startDaemon } from '../../harness/daemon';
import { fuzzDaemon } from '../../harness/fuzz';
import { guardMs, HARD } from '../../harness/hard-size';
import { waitForValue } from '../../harness/wait';

/** Deterministic by default so a failure can be replayed. */
const SEED = Number(process.env.TLSPOOL_FUZZ_SEED ?? 20261125);

test(`the daemon answers ${HARD.fuzzPackets} random and mutated packets exactly once each, and leaks no fd`, guardMs(120_000, 1_800_000), async (t) => {
  const daemon = await startDaemon();
  try {
    const probe = PoolClient.connect(daemon.socket);
    await probe.ping();
    const fdsAtStart = daemon.fdCount();

    const started = Date.now();
    const r = await fuzzDaemon({ socket: daemon.socket, packets: HARD.fuzzPackets, batch: HARD.fuzzBatch, seed: SEED });
    t.diagnostic(`${r.answered} of ${r.sent} packets answered over ${r.connections} connections in ${Date.now() - started} ms`);
    assert.equal(r.failure, undefined);
    assert.equal(r.sent, HARD.fuzzPackets);
    assert.equal(r.answered, r.sent);
    assert.equal(daemon.proc.exitCode, null, 'the daemon is still running');
    assert.equal((await probe.ping()).identity, TLSPOOL_IDENTITY_V1, 'the daemon still answers');
    probe.close();
    const again = PoolClient.connect(daemon.socket);
    await again.ping();
    await waitForValue('daemon fd count back to its start', () => daemon.fdCount(), fdsAtStart);
    again.close();
  } finally {
    assert.equal(await daemon.stop(), 0, 'the daemon exits cleanly after the fuzzing');
  }
});
