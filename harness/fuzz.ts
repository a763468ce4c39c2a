/**
 * The packet fuzzer: random and mutated packets, with and without fds, sent
 * over many connections at a live daemon: 376-byte V1 packets on half the
 * connections, 388-byte V2 packets on the other half. Per connection it
 * counts the answers, ends with one PING (an extra answer would come before
 * it) and checks there is exactly one response per complete packet; some
 * connections vanish in the middle of a packet while holding an fd.
 *
 * Packets are made batch by batch from a seed, so a million of them never
 * sit in memory at once and a failure can be replayed with the same seed.
 */
import * as fs from 'node:fs';
import fc from 'fast-check';
import { adoptFd, connectUnix, socketpair, type OwnedFd } from '../src/addon/ipc';
import { COMMAND_SIZE, Cmd, LocalCmd, decodeHeader, encode, type Packet } from '../src/protocol';
import { Framer } from '../src/protocol/framer';
import { decodeV2Header, encodeV2, type V2Packet } from '../src/protocol/v2-codec';
import { V2Cmd } from '../src/protocol/v2-constants';
import { V2_COMMAND_SIZE } from '../src/protocol/v2-layout';
import { waitFor } from './wait';

const text = (max: number) => fc.string({ maxLength: max - 1 }).filter((s) => !s.includes('\0') && Buffer.byteLength(s) < max);
/**
 * A string field: valid text, or any bytes but NUL (so invalid UTF-8 too;
 * `encode` writes a Uint8Array as it is). The field types say string; the
 * wire does not.
 */
const cstr = (max: number): fc.Arbitrary<string> =>
  fc.oneof(text(max), fc.uint8Array({ min: 1, max: 255, maxLength: max - 1 }) as unknown as fc.Arbitrary<string>);
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
  fc.record({
    reqid: u16,
    cbid: u16,
    cmd: fc.constantFrom(LocalCmd.LOCK, LocalCmd.TOKEN_STATE, LocalCmd.LOOP_STATS),
    pinentry: fc.record({
      flags: u32,
      attempt: u32,
      timeout_us: u32,
      pin: fc.uint8Array({ min: 1, max: 255, maxLength: 127 }),
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

const bytesUpTo = (n: number) => fc.uint8Array({ maxLength: n });
const i16 = fc.integer({ min: -0x8000, max: 0x7fff });

/** Well-formed V2 packets of the kinds a V2 client sends (registrations left out: they stay open). */
const wellFormedV2: fc.Arbitrary<V2Packet> = fc.oneof(
  fc.record({ reqid: u16, cbid: u16, cmd: fc.constant(V2Cmd.PING), ping: fc.record({ YYYYMMDD_producer: cstr(136), facilities: u32 }) }),
  fc.record({
    reqid: u16,
    cbid: u16,
    cmd: fc.constantFrom(V2Cmd.STARTTLS, V2Cmd.STARTTLS_LOCALID, V2Cmd.PLAINTEXT_CONNECT),
    starttls: fc.record({
      flags: u32,
      local: u32,
      ipproto: fc.constantFrom(0, 6, 17, 132, 255),
      streamid: u16,
      localid: cstr(128),
      remoteid: cstr(128),
      ctlkey: bytesUpTo(16),
      service: cstr(16),
      timeout: u32,
    }),
  }),
  fc.record({ reqid: u16, cbid: u16, cmd: fc.constantFrom(V2Cmd.CONTROL_DETACH, V2Cmd.CONTROL_REATTACH), control: fc.record({ flags: u32, ctlkey: bytesUpTo(16), name: bytesUpTo(128) }) }),
  fc.record({ reqid: u16, cbid: u16, cmd: fc.constant(V2Cmd.PRNG), prng: fc.record({ in1_len: i16, in2_len: i16, prng_len: i16, buffer: bytesUpTo(350) }) }),
  fc.record({ reqid: u16, cbid: u16, cmd: fc.constant(V2Cmd.INFO), info: fc.record({ ctlkey: bytesUpTo(16), info_kind: u32, len: u16, buffer: bytesUpTo(334) }) }),
  fc.record({ reqid: u16, cbid: u16, cmd: u32, raw: fc.uint8Array({ minLength: 380, maxLength: 380 }) }),
);

/**
 * V2 packets that get no answer: registrations stay open (a LIDENTRY_CALLBACK
 * that answers no callback is a registration too); a late answer to a
 * callback is dropped.
 */
function unansweredV2(bytes: Uint8Array): boolean {
  const h = decodeV2Header(bytes);
  if (h.cmd === V2Cmd.PINENTRY || h.cmd === V2Cmd.LIDENTRY_REGISTER || h.cmd === V2Cmd.LIDENTRY_CALLBACK) return true;
  return h.cbid !== 0 && (h.cmd === V2Cmd.SUCCESS || h.cmd === V2Cmd.ERROR);
}

const packetBytesV2: fc.Arbitrary<Uint8Array> = fc
  .oneof(
    fc.uint8Array({ minLength: V2_COMMAND_SIZE, maxLength: V2_COMMAND_SIZE }),
    wellFormedV2.map((p) => encodeV2(p)),
    fc
      .tuple(wellFormedV2, fc.array(fc.tuple(fc.integer({ min: 0, max: V2_COMMAND_SIZE - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }))
      .map(([p, flips]) => {
        const b = encodeV2(p);
        for (const [at, v] of flips) b[at] = v;
        return b;
      }),
  )
  .filter((b) => !unansweredV2(b));

/** Kinds of fd to attach: none mostly, else a file or an unconnected socket. */
function maybeFd(choice: number): OwnedFd | undefined {
  if (choice < 6) return undefined;
  if (choice < 8) return adoptFd(fs.openSync('/dev/null', 'r'));
  const [a, b] = socketpair(choice === 8 ? 'stream' : 'dgram');
  b.close();
  return a;
}

export interface FuzzOptions {
  readonly socket: string;
  readonly packets: number;
  /** Packets per connection. */
  readonly batch: number;
  readonly seed: number;
}

export interface FuzzReport {
  readonly sent: number;
  readonly answered: number;
  readonly connections: number;
  /** The first connection whose answers did not match, if any: what went wrong there. */
  readonly failure?: string;
}

/** Fuzz the daemon at `socket`; resolves with what was sent and answered (stops at the first connection that goes wrong). */
export async function fuzzDaemon(opts: FuzzOptions): Promise<FuzzReport> {
  let sent = 0;
  let answered = 0;
  let connections = 0;
  for (let at = 0; at < opts.packets; at += opts.batch) {
    const n = Math.min(opts.batch, opts.packets - at);
    const index = at / opts.batch;
    // Every other connection speaks V2; its first packet (a PING, answered
    // before the rest is sent) decides the connection's protocol.
    const v2 = index % 2 === 1;
    const batch = fc.sample(fc.tuple(v2 ? packetBytesV2 : packetBytes, fc.integer({ min: 0, max: 9 })), { numRuns: n, seed: opts.seed + index });
    const conn = connectUnix(opts.socket);
    connections++;
    const framer = new Framer<OwnedFd>(v2 ? V2_COMMAND_SIZE : COMMAND_SIZE);
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
    const ping = () =>
      v2
        ? encodeV2({ reqid: 1, cbid: 0, cmd: V2Cmd.PING, ping: { YYYYMMDD_producer: 'fuzz', facilities: 1 } })
        : encode({ reqid: 1, cbid: 0, cmd: Cmd.PING, ping: { YYYYMMDD_producer: 'fuzz' } });
    conn.send(ping());
    await waitFor('the first PING', () => got >= 1 || ended);
    got = 0;
    for (const [bytes, fdChoice] of batch) {
      const fd = maybeFd(fdChoice);
      conn.send(bytes, fd);
      fd?.close();
    }
    const report = (failure: string) => ({ sent, answered, connections, failure: `connection ${index} (seed ${opts.seed + index}): ${failure}` });
    await waitFor(`answers on connection ${index}`, () => got >= n || ended, 60000);
    if (ended) return report(`the daemon closed the connection after ${got} of ${n} answers`);
    // One more PING: if an extra answer were coming it would precede this one.
    conn.send(ping());
    await waitFor('the closing PING', () => got >= n + 1 || ended);
    if (got !== n + 1) return report(`${got - 1} answers to ${n} packets`);
    // Every fourth connection vanishes in the middle of a packet, holding an fd.
    if (index % 4 === 3) {
      const fd = adoptFd(fs.openSync('/dev/null', 'r'));
      conn.send(batch[0]![0].subarray(0, 123), fd);
      fd.close();
    }
    conn.close();
    sent += n;
    answered += got - 1;
  }
  return { sent, answered, connections };
}
