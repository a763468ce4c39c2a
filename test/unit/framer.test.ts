import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Framer } from '../../src/protocol/framer';
import * as fs from 'node:fs';
import { adoptFd, type OwnedFd } from '../../src/addon/ipc';

/** A real owned fd (of /dev/null), to see whether the framer closed it. */
function devNull(): OwnedFd {
  return adoptFd(fs.openSync('/dev/null', 'r'));
}

function commands(n: number): Uint8Array {
  const all = new Uint8Array(376 * n);
  for (let i = 0; i < n; i++) all.fill(i + 1, i * 376, (i + 1) * 376);
  return all;
}

test('commands come out whole however the stream is cut', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 20 }), fc.array(fc.integer({ min: 1, max: 900 }), { maxLength: 50 }), (n, cuts) => {
      const stream = commands(n);
      const framer = new Framer();
      const out: Uint8Array[] = [];
      let at = 0;
      for (const c of cuts) {
        if (at >= stream.length) break;
        out.push(...framer.push(stream.subarray(at, at + c)).map((f) => f.bytes));
        at += c;
      }
      out.push(...framer.push(stream.subarray(at)).map((f) => f.bytes));
      assert.equal(out.length, n);
      out.forEach((b, i) => assert.ok(b.every((x) => x === i + 1)));
      assert.equal(framer.pendingBytes, 0);
    }),
  );
});

test('an fd belongs to the command whose first byte came with it', () => {
  const framer = new Framer();
  const stream = commands(3);
  // The end of command 1 and the start of command 2 arrive with an fd: it is command 2's.
  assert.equal(framer.push(stream.subarray(0, 200)).length, 0);
  const fd = devNull();
  const frames = framer.push(stream.subarray(200, 376 + 100), [fd]);
  assert.equal(frames.length, 1);
  assert.equal(frames[0].fd, undefined);
  const rest = framer.push(stream.subarray(476));
  assert.equal(rest.length, 2);
  assert.equal(rest[0].fd, fd);
  assert.equal(rest[1].fd, undefined);
  assert.equal(fd.closed, false);
  fd.close();
});

test('an fd that arrives with only the middle of a command is closed, as are extra fds', () => {
  const framer = new Framer();
  const stream = commands(1);
  framer.push(stream.subarray(0, 100));
  const orphan = devNull();
  assert.equal(framer.push(stream.subarray(100, 200), [orphan]).length, 0);
  assert.equal(orphan.closed, true);
  const first = devNull();
  const extra = devNull();
  const frames = new Framer().push(commands(2), [first, extra]);
  assert.equal(frames[0].fd, first);
  assert.equal(extra.closed, true);
  assert.equal(first.closed, false);
  first.close();
});

test('dispose closes the fd of an unfinished command', () => {
  const framer = new Framer();
  const fd = devNull();
  framer.push(commands(1).subarray(0, 10), [fd]);
  framer.dispose();
  assert.equal(fd.closed, true);
});

test('a lost fd (MSG_CTRUNC) marks the command that starts in that chunk, and only it', () => {
  const framer = new Framer();
  const stream = commands(3);
  // Command 1 arrives whole, with its fd lost.
  const [first] = framer.push(stream.subarray(0, 376), [], true);
  assert.equal(first!.fdLost, true);
  assert.equal(first!.fd, undefined);
  // Command 2 starts in a chunk whose fd was lost and ends in the next one.
  assert.equal(framer.push(stream.subarray(376, 500), [], true).length, 0);
  const [second] = framer.push(stream.subarray(500, 752));
  assert.equal(second!.fdLost, true);
  // A chunk that only continues a command marks nothing.
  assert.equal(framer.push(stream.subarray(752, 800)).length, 0);
  const [third] = framer.push(stream.subarray(800), [], true);
  assert.equal(third!.fdLost, undefined);
  // Nor does a loss when the command's fd did arrive (one of several was lost).
  const fd = devNull();
  const [fourth] = new Framer().push(stream.subarray(0, 376), [fd], true);
  assert.equal(fourth!.fdLost, undefined);
  assert.equal(fourth!.fd, fd);
  fd.close();
});
