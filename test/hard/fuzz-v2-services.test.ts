/**
 * Fuzz with the V2 services held (hardening suite): a V2 PIN entry program
 * and a LIDENTRY program stay registered while random and mutated V1 and V2
 * packets hit the daemon over other connections. Every complete packet is
 * answered once, the registrations are still held afterwards (a second one
 * is refused), and when the programs leave the fds are back to the start.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connectUnix, type OwnedFd } from '../../src/addon/ipc';
import { PoolClient } from '../../src/client/pool-client';
import { Framer } from '../../src/protocol/framer';
import { decodeV2, encodeV2, type V2Packet } from '../../src/protocol/v2-codec';
import { V2Cmd, V2LidFlag } from '../../src/protocol/v2-constants';
import { Tlsp } from '../../src/protocol/v2-errors';
import { V2_COMMAND_SIZE } from '../../src/protocol/v2-layout';
import { startDaemon } from '../../harness/daemon';
import { fuzzDaemon } from '../../harness/fuzz';
import { guardMs } from '../../harness/hard-size';
import { waitFor, waitForValue } from '../../harness/wait';

const SEED = Number(process.env.TLSPOOL_FUZZ_SEED ?? 20261204);

/** A raw V2 connection that records every packet the pool sends it. */
function v2Conn(socket: string) {
  const conn = connectUnix(socket);
  const got: V2Packet[] = [];
  const framer = new Framer<OwnedFd>(V2_COMMAND_SIZE);
  conn.start(
    (chunk, fds) => {
      for (const f of framer.push(chunk, fds)) {
        f.fd?.close();
        got.push(decodeV2(f.bytes));
      }
    },
    () => {},
  );
  return { conn, got, send: (p: V2Packet) => conn.send(encodeV2(p)) };
}

const pinRegistration: V2Packet = {
  reqid: 0,
  cbid: 0,
  cmd: V2Cmd.PINENTRY,
  pinentry: { flags: 0, attempt: 0, timeout_us: 60_000_000, pin: new Uint8Array(0), prompt: '', token_manuf: '', token_model: '', token_serial: '', token_label: '' },
};
const lidRegistration: V2Packet = { reqid: 0, cbid: 0, cmd: V2Cmd.LIDENTRY_REGISTER, lidentry: { flags: V2LidFlag.WANT_DBENTRY, maxlevels: 0, timeout: 300, localid: '', remoteid: '' } };

test('random V1 and V2 packets beside registered V2 PIN and LIDENTRY programs: each answered once, the registrations held, no fd leaked', guardMs(120_000, 600_000), async (t) => {
  const daemon = await startDaemon();
  try {
    const probe = PoolClient.connect(daemon.socket);
    await probe.ping();
    const fdsAtStart = daemon.fdCount();
    const pin = v2Conn(daemon.socket);
    const lid = v2Conn(daemon.socket);
    pin.send(pinRegistration);
    lid.send(lidRegistration);
    await waitFor('both registered', () => /PIN entry program registered/.test(daemon.logs()) && /local-identity program registered/.test(daemon.logs()));

    const r = await fuzzDaemon({ socket: daemon.socket, packets: 4000, batch: 250, seed: SEED });
    t.diagnostic(`${r.answered} of ${r.sent} packets answered over ${r.connections} connections`);
    assert.equal(r.failure, undefined);
    assert.equal(r.answered, r.sent);
    assert.deepEqual([pin.got.length, lid.got.length], [0, 0], 'the registered programs were sent nothing');

    // Still held: second registrations are refused with the V2 codes.
    const second = v2Conn(daemon.socket);
    second.send(pinRegistration);
    second.send(lidRegistration);
    await waitFor('two refusals', () => second.got.length >= 2);
    const codes = second.got.map((p) => ('error' in p ? p.error.tlserrno : p.cmd)).sort();
    assert.deepEqual(codes, [Tlsp.E_TLSPOOL_PINENTRY_NOT_VACANT, Tlsp.E_TLSPOOL_LIDENTRY_NOT_VACANT].sort());
    for (const c of [pin, lid, second]) c.conn.close();
    await waitFor('the programs left', () => /PIN entry program unregistered/.test(daemon.logs()) && /approval agent left/.test(daemon.logs()));
    assert.equal(daemon.proc.exitCode, null, 'the daemon is still running');
    await probe.ping();
    await waitForValue('daemon fd count back to its start', () => daemon.fdCount(), fdsAtStart);
    probe.close();
  } finally {
    assert.equal(await daemon.stop(), 0, 'the daemon exits cleanly after the fuzzing');
  }
});
