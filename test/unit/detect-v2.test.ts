import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProtocolDetector } from '../../src/protocol/detect';
import { Cmd } from '../../src/protocol/constants';
import { encode } from '../../src/protocol/codec';
import { decodeV2, encodeV2, v2ErrorPacket, type V2Packet } from '../../src/protocol/v2-codec';
import { V2Cmd } from '../../src/protocol/v2-constants';
import { Tlsp, tlspName, TLSP_BASE } from '../../src/protocol/v2-errors';
import { V2_COMMAND_SIZE } from '../../src/protocol/v2-layout';

const fd = () => ({ closed: 0, close() { this.closed++; } });
const v1Ping = (reqid: number) => encode({ reqid, cbid: 0, cmd: Cmd.PING, ping: { YYYYMMDD_producer: 'x' } });
const v2 = (p: V2Packet) => encodeV2(p);
const control = (cmd: number): V2Packet => ({ reqid: 1, cbid: 0, cmd: cmd as typeof V2Cmd.CONTROL_DETACH, control: { flags: 0, ctlkey: new Uint8Array(16), name: new Uint8Array(0) } });

test('a V1 packet alone, or followed by another V1 packet, is V1; the chunks come back in order', () => {
  const alone = new ProtocolDetector().push(v1Ping(1), [], false, () => 0);
  assert.equal(alone.state === 'decided' && alone.dialect, 'v1');
  const d = new ProtocolDetector();
  assert.equal(d.push(v1Ping(1), [], false, () => 376).state, 'undecided');
  const r = d.push(v1Ping(2), [], false, () => 0);
  assert.ok(r.state === 'decided');
  assert.equal(r.dialect, 'v1');
  assert.equal(r.chunks.length, 2);
});

test('388 bytes whose tail is zero are V2, however the first 376 are cut', () => {
  const bytes = v2({ reqid: 1, cbid: 0, cmd: V2Cmd.PING, ping: { YYYYMMDD_producer: 'x', facilities: 1 } });
  for (const cut of [1, 100, 375, 376, 380, 387]) {
    const d = new ProtocolDetector();
    let left = bytes.byteLength;
    let r = d.push(bytes.subarray(0, cut), [], false, () => (left -= cut));
    if (r.state !== 'decided') r = d.push(bytes.subarray(cut), [], false, () => 0);
    assert.ok(r.state === 'decided', `cut at ${cut}`);
    assert.equal(r.dialect, 'v2', `cut at ${cut}`);
  }
});

test('a V2-only tag without its tail waits; the tail makes it V2, none makes it early V2', () => {
  const bytes = v2(control(V2Cmd.CONTROL_DETACH));
  const d = new ProtocolDetector();
  assert.equal(d.push(bytes.subarray(0, 376), [], false, () => 0).state, 'wait-tail');
  const r = d.push(bytes.subarray(376), [], false, () => 0);
  assert.ok(r.state === 'decided' && r.dialect === 'v2');
  const e = new ProtocolDetector();
  assert.equal(e.push(bytes.subarray(0, 376), [], false, () => 0).state, 'wait-tail');
  const t = e.timeout();
  assert.ok(t.state === 'decided' && t.dialect === 'v2-early');
});

test('a V1 PING that is not V2-only is V1 even without more bytes; dispose closes held fds', () => {
  const d = new ProtocolDetector();
  const f = fd();
  assert.equal(d.push(v1Ping(1).subarray(0, 200), [f], false, () => 0).state, 'undecided');
  d.dispose();
  assert.equal(f.closed, 1);
});

test('V2 packets survive encode then decode; the table codes are the base plus their position', () => {
  const p: V2Packet = {
    reqid: 5, cbid: 0, cmd: V2Cmd.STARTTLS,
    starttls: { flags: 9, local: 0, ipproto: 6, streamid: 0, localid: 'a@b', remoteid: 'c.d', ctlkey: new Uint8Array(16).fill(7), service: 'generic', timeout: 1000 },
  };
  const bytes = encodeV2(p);
  assert.equal(bytes.byteLength, V2_COMMAND_SIZE);
  assert.deepEqual(decodeV2(bytes), p);
  const full = { ...p, starttls: { ...p.starttls, service: 'sixteen-bytes-xx' } };
  assert.deepEqual(decodeV2(encodeV2(full)), full);
  assert.equal(Tlsp.E_TLSPOOL_OUT_OF_MEMORY, -1167372288);
  assert.equal(Tlsp.E_TLSPOOL_INFO_NOT_FOUND, TLSP_BASE + 29);
  assert.equal(tlspName(-1167372273), 'E_TLSPOOL_CTLKEY_NOT_FOUND');
  assert.equal(tlspName(22), undefined);
  const err = decodeV2(encodeV2(v2ErrorPacket(3, 0, Tlsp.E_TLSPOOL_COMMAND_UNKNOWN, 'x'.repeat(300))));
  assert.ok('error' in err && err.error.message.length === 127);
});
