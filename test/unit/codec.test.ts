import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  COMMAND_SIZE,
  Cmd,
  decode,
  encode,
  errorPacket,
  Errno,
  errnoName,
  fitString,
  MalformedPacket,
  PAYLOADS,
  type Packet,
} from '../../src/protocol';

/** A C string that fits a field of `size` bytes: no NUL, at most size-1 UTF-8 bytes. */
const cstr = (size: number) =>
  fc.string({ unit: 'grapheme', maxLength: size }).map((s) => fitString(s, size));
const bytesOf = (size: number) =>
  fc.uint8Array({ maxLength: size - 1 }).map((b) => b.map((x) => (x === 0 ? 1 : x)));
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const head = { reqid: u16, cbid: u16 };
/** Plain objects, as the decoder makes them (fast-check defaults to null prototypes). */
const rec = <T,>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }) => fc.record<T>(model, { noNullPrototype: true });

const packet: fc.Arbitrary<Packet> = fc.oneof(
  rec({ ...head, cmd: fc.constant(Cmd.SUCCESS) }),
  rec({
    ...head,
    cmd: fc.constant(Cmd.ERROR),
    error: rec({ tlserrno: fc.integer({ min: -0x80000000, max: 0x7fffffff }), message: cstr(128) }),
  }),
  rec({ ...head, cmd: fc.constant(Cmd.PING), ping: rec({ YYYYMMDD_producer: cstr(136) }) }),
  rec({
    ...head,
    cmd: fc.constantFrom(Cmd.STARTTLS_CLIENT, Cmd.STARTTLS_SERVER, Cmd.STARTTLS_LOCALID),
    starttls: rec({
      flags: u32,
      local: u32,
      ipproto: fc.integer({ min: 0, max: 255 }),
      streamid: u16,
      localid: cstr(128),
      remoteid: cstr(128),
    }),
  }),
  rec({
    ...head,
    cmd: fc.constant(Cmd.PINENTRY),
    pinentry: rec({
      flags: u32,
      attempt: u32,
      timeout_us: u32,
      pin: bytesOf(128),
      prompt: cstr(128),
      token_manuf: cstr(33),
      token_model: cstr(17),
      token_serial: cstr(17),
      token_label: cstr(33),
    }),
  }),
  rec({
    ...head,
    cmd: u32.filter((c) => !(Object.values(Cmd) as number[]).includes(c)),
    raw: fc.uint8Array({ minLength: 368, maxLength: 368 }),
  }),
);

test('every packet survives encode then decode unchanged', () => {
  fc.assert(
    fc.property(packet, (p) => {
      const bytes = encode(p);
      assert.equal(bytes.byteLength, COMMAND_SIZE);
      assert.deepEqual(decode(bytes), p);
    }),
    { numRuns: 2000 },
  );
});

test('decoding any 376 bytes either succeeds and re-encodes to the same fields, or says which string is malformed', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: COMMAND_SIZE, maxLength: COMMAND_SIZE }), (bytes) => {
      let p: Packet;
      try {
        p = decode(bytes);
      } catch (e) {
        assert.ok(e instanceof MalformedPacket);
        assert.match(e.message, /is not NUL-terminated within its \d+ bytes/);
        return;
      }
      assert.deepEqual(decode(encode(p)), p);
    }),
    { numRuns: 5000 },
  );
});

test('a PING is laid out as the wire table says', () => {
  const bytes = encode({ reqid: 0x1234, cbid: 0x5678, cmd: Cmd.PING, ping: { YYYYMMDD_producer: '20130710x@y' } });
  const dv = new DataView(bytes.buffer);
  assert.equal(dv.getUint16(0, true), 0x1234);
  assert.equal(dv.getUint16(2, true), 0x5678);
  assert.equal(dv.getUint32(4, true), 0x10);
  assert.equal(new TextDecoder().decode(bytes.subarray(8, 8 + 11)), '20130710x@y');
  assert.equal(bytes[8 + 11], 0);
  assert.ok(bytes.subarray(8 + 11).every((b) => b === 0), 'unused bytes are zero');
});

test('STARTTLS fields sit at the offsets of the wire table', () => {
  const bytes = encode({
    reqid: 1,
    cbid: 0,
    cmd: Cmd.STARTTLS_CLIENT,
    starttls: { flags: 0x201, local: 7, ipproto: 17, streamid: 0xabcd, localid: 'me@a.b', remoteid: 'c.d' },
  });
  const dv = new DataView(bytes.buffer);
  assert.equal(dv.getUint32(8, true), 0x201);
  assert.equal(dv.getUint32(12, true), 7);
  assert.equal(bytes[16], 17);
  assert.equal(dv.getUint16(18, true), 0xabcd);
  assert.equal(new TextDecoder().decode(bytes.subarray(20, 26)), 'me@a.b');
  assert.equal(new TextDecoder().decode(bytes.subarray(148, 151)), 'c.d');
  assert.deepEqual(
    PAYLOADS.pioc_pinentry.map((f) => [f.name, f.offset - 8]),
    [
      ['flags', 0],
      ['attempt', 4],
      ['timeout_us', 8],
      ['pin', 12],
      ['prompt', 140],
      ['token_manuf', 268],
      ['token_model', 301],
      ['token_serial', 318],
      ['token_label', 335],
    ],
  );
});

test('a string field without a NUL is malformed and names the field', () => {
  const bytes = encode({ reqid: 9, cbid: 0, cmd: Cmd.STARTTLS_SERVER, starttls: { flags: 0, local: 0, ipproto: 6, streamid: 0, localid: '', remoteid: '' } });
  bytes.fill(0x41, 8 + 140, 8 + 268);
  assert.throws(() => decode(bytes), (e: unknown) => e instanceof MalformedPacket && e.reqid === 9 && /remoteid/.test(e.message));
});

test('encoding refuses strings that do not fit, and fitString makes them fit on a character boundary', () => {
  assert.throws(() => encode({ reqid: 0, cbid: 0, cmd: Cmd.PING, ping: { YYYYMMDD_producer: 'x'.repeat(136) } }), /at most 135/);
  const long = 'é'.repeat(100); // 200 bytes
  const fitted = fitString(long, 128);
  assert.equal(new TextEncoder().encode(fitted).byteLength, 126);
  assert.equal(fitted, 'é'.repeat(63));
  const e = errorPacket(1, 0, Errno.EINVAL, long);
  assert.doesNotThrow(() => encode(e));
});

test('errno names are the Linux ones', () => {
  assert.equal(Errno.ENOSYS, 38);
  assert.equal(Errno.ENOTSOCK, 88);
  assert.equal(Errno.EPROTONOSUPPORT, 93);
  assert.equal(Errno.ECANCELED, 125);
  assert.equal(errnoName(16), 'EBUSY');
  assert.equal(errnoName(9999), 'E9999');
});
