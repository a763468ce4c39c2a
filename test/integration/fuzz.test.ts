/**
 * Random and mutated packets, with and without fds, over many connections,
 * at the live daemon: it must stay up, answer every complete packet exactly
 * once, and end with the fds it started with.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import fc from 'fast-check';
import { adoptFd, connectUnix, socketpair, type OwnedFd } from '../../daemon/src/native/ipc';
import { COMMAND_SIZE, Cmd, decodeHeader, encode, TLSPOOL_IDENTITY_V1, type Packet } from '../../daemon/src/protocol';
import { PoolClient } from '../../daemon/src/client/pool-client';
import { Framer } from '../../daemon/src/server/framer';
import { startDaemon } from '../helpers/daemon';
import { waitFor, waitForValue } from '../helpers/wait';

const PACKETS = Number(process.env.TLSPOOL_FUZZ_PACKETS ?? 100_000);
const BATCH = 500;
/** Deterministic by default so a failure can be replayed; override to explore. */
const SEED = Number(process.env.TLSPOOL_FUZZ_SEED ?? 20261125);

const cstr = (max: number) => fc.string({ maxLength: max - 1 }).filter((s) => !s.includes('\0') && Buffer.byteLength(s) < max);
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });

/**
 * Well-formed packets of every kind a client might send. A PINENTRY offer
 * is left out on purpose: by the protocol it stays open until a PIN is
 * needed, so "answered at once" does not apply to it.
 */
const wellFormed: fc.Arbitrary<Packet> = fc.oneof(
  fc.record({ reqid: u16, cbid: u16, cmd: fc.constant(Cmd.PING), ping: fc.record({ YYYYMMDD_producer: cstr(136) }) }),
  fc.record({
    reqid: u16,
    cbid: u16,
    cmd: fc.constantFrom(Cmd.STARTTLS_CLIENT, Cmd.STARTTLS_SERVER, Cmd.STARTTLS_LOCALID),
    starttls: fc.record({
      flags: u32,
      local: u32,
      ipproto: fc.constantFrom(0, 6, 17, 132, 255),
      streamid: u16,
      localid: cstr(128),
      remoteid: cstr(128),
    }),
  }),
  fc.record({
    reqid: u16,
    cbid: fc.integer({ min: 1, max: 0xffff }),
    cmd: fc.constant(Cmd.PINENTRY),
    pinentry: fc.record({
      flags: u32,
      attempt: u32,
      timeout_us: u32,
      pin: fc.constant(new Uint8Array([0x31, 0x32])),
      prompt: cstr(128),
      token_manuf: cstr(33),
      token_model: cstr(17),
      token_serial: cstr(17),
      token_label: cstr(33),
    }),
  }),
  fc.record({ reqid: u16, cbid: u16, cmd: fc.constantFrom(Cmd.SUCCESS) }),
  fc.record({ reqid: u16, cbid: u16, cmd: u32, raw: fc.uint8Array({ minLength: 368, maxLength: 368 }) }),
);

function isOffer(bytes: Uint8Array): boolean {
  const h = decodeHeader(bytes);
  return h.cmd === Cmd.PINENTRY && h.cbid === 0;
}

/** A packet: random bytes, well-formed, or well-formed with bytes flipped. */
const packetBytes: fc.Arbitrary<Uint8Array> = fc
  .oneof(
    fc.uint8Array({ minLength: COMMAND_SIZE, maxLength: COMMAND_SIZE }),
    wellFormed.map((p) => encode(p)),
    fc
      .tuple(wellFormed, fc.array(fc.tuple(fc.integer({ min: 0, max: COMMAND_SIZE - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }))
      .map(([p, flips]) => {
        const b = encode(p);
        for (const [at, v] of flips) b[at] = v;
        return b;
      }),
  )
  .filter((b) => !isOffer(b));

/** Kinds of fd to attach: none mostly, else a file or an unconnected socket. */
function maybeFd(choice: number): OwnedFd | undefined {
  if (choice < 6) return undefined;
  if (choice < 8) return adoptFd(fs.openSync('/dev/null', 'r'));
  const [a, b] = socketpair(choice === 8 ? 'stream' : 'dgram');
  b.close();
  return a;
}

test(`the daemon answers ${PACKETS} random and mutated packets exactly once each, and leaks no fd`, async () => {
  const daemon = await startDaemon();
  try {
    const probe = PoolClient.connect(daemon.socket);
    await probe.ping();
    const fdsAtStart = daemon.fdCount();

    const samples = fc.sample(fc.tuple(packetBytes, fc.integer({ min: 0, max: 9 })), { numRuns: PACKETS, seed: SEED });
    let sent = 0;
    let answered = 0;
    for (let at = 0; at < samples.length; at += BATCH) {
      const batch = samples.slice(at, at + BATCH);
      const conn = connectUnix(daemon.socket);
      const framer = new Framer();
      let got = 0;
      let ended = false;
      conn.start(
        (chunk, fds) => {
          for (const f of framer.push(chunk, fds)) {
            f.fd?.close();
            got++;
          }
        },
        () => (ended = true),
      );
      for (const [bytes, fdChoice] of batch) {
        const fd = maybeFd(fdChoice);
        conn.send(bytes, fd);
        fd?.close();
      }
      await waitFor(`answers to batch ${at / BATCH}`, () => got >= batch.length || ended, 60000);
      assert.equal(ended, false, 'the daemon never closes a connection over bad packets');
      // One more PING: if an extra answer were coming it would precede this one.
      conn.send(encode({ reqid: 1, cbid: 0, cmd: Cmd.PING, ping: { YYYYMMDD_producer: 'end' } }));
      await waitFor('the closing PING', () => got >= batch.length + 1);
      assert.equal(got, batch.length + 1, 'exactly one response per complete packet');
      // Every fourth connection vanishes in the middle of a packet, holding an fd.
      if ((at / BATCH) % 4 === 3) {
        const fd = adoptFd(fs.openSync('/dev/null', 'r'));
        conn.send(batch[0][0].subarray(0, 123), fd);
        fd.close();
      }
      conn.close();
      sent += batch.length;
      answered += got - 1;
    }
    assert.equal(answered, sent);
    assert.equal((await probe.ping()).identity, TLSPOOL_IDENTITY_V1, 'the daemon is still up');
    probe.close();
    const again = PoolClient.connect(daemon.socket);
    await again.ping();
    await waitForValue('daemon fd count back to its start', () => daemon.fdCount(), fdsAtStart);
    again.close();
  } finally {
    assert.equal(await daemon.stop(), 0, 'the daemon exits cleanly after the fuzzing');
  }
});
