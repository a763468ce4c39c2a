/**
 * An fd belongs to the command whose first byte arrived with it. On Linux a
 * recvmsg that returns an fd may also return the plain bytes that were
 * queued before the fd's sendmsg (unix(7): ancillary data is a barrier only
 * after it), so a reader that takes in several commands at once cannot tell
 * which of them the fd came with. Both ends, the daemon and the client
 * library, must still give every fd to its own command. These tests queue a
 * command without an fd right before one with an fd, so that a large read
 * gets both.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PoolClient } from '../../src/client/pool-client';
import { Failure } from '../../src/model/failure';
import { adoptFd, connectUnix, listenUnix, type OwnedFd, type UnixConnection } from '../../src/addon/ipc';
import { Cmd, decode, encode, errorPacket, Errno, IpProto, type Packet } from '../../src/protocol';
import { Framer } from '../../src/protocol/framer';
import { startDaemon, tempDir, type TestDaemon } from '../../harness/daemon';
import { waitFor } from '../../harness/wait';

const ROUNDS = 100;

function ping(reqid: number): Packet {
  return { reqid, cbid: 0, cmd: Cmd.PING, ping: { YYYYMMDD_producer: '20260101glue@example.org' } };
}

function starttls(reqid: number): Packet {
  return {
    reqid,
    cbid: 0,
    cmd: Cmd.STARTTLS_CLIENT,
    starttls: { flags: 0, local: 0, ipproto: IpProto.TCP, streamid: 0, localid: '', remoteid: '' },
  };
}

describe('an fd goes to the command it came with, also when the kernel glues it to earlier bytes', () => {
  let daemon: TestDaemon;

  before(async () => {
    daemon = await startDaemon();
  });
  after(async () => {
    assert.equal(await daemon.stop(), 0);
    fs.rmSync(daemon.dir, { recursive: true, force: true });
  });

  test(`the daemon: ${ROUNDS} times a PING and right behind it a STARTTLS with /dev/null`, async () => {
    const raw = connectUnix(daemon.socket);
    const framer = new Framer<OwnedFd>();
    const got: Packet[] = [];
    raw.start((chunk, fds) => got.push(...framer.push(chunk, fds).map((f) => (f.fd?.close(), decode(f.bytes)))), () => {});
    const devnull = adoptFd(fs.openSync('/dev/null', 'r'));
    for (let i = 0; i < ROUNDS; i++) {
      raw.send(encode(ping(2 * i + 1)));
      raw.send(encode(starttls(2 * i + 2)), devnull);
    }
    devnull.close();
    await waitFor(`${2 * ROUNDS} responses`, () => got.length === 2 * ROUNDS);
    raw.close();
    const wrong = got.filter((p) =>
      p.reqid % 2 === 1 ? p.cmd !== Cmd.PING : !('error' in p && p.error.tlserrno === Errno.ENOTSOCK),
    );
    // EBADF would mean the STARTTLS lost its fd to the PING before it.
    assert.deepEqual(
      wrong.map((p) => ('error' in p ? `${p.reqid}: ERROR ${p.error.tlserrno} ${p.error.message}` : `${p.reqid}: ${p.cmd}`)),
      [],
    );
  });

  test(`the client library: ${ROUNDS} times an ERROR and right behind it a STARTTLS response with an fd`, async () => {
    // A stand-in pool that answers each pair of requests with both responses at once.
    const dir = tempDir();
    const socket = path.join(dir, 'fake.sock');
    let server: UnixConnection | undefined;
    const listener = listenUnix(socket, 4, (conn) => {
      server = conn;
      const framer = new Framer<OwnedFd>();
      const asked: Packet[] = [];
      conn.start(
        (chunk, fds) => {
          for (const f of framer.push(chunk, fds)) {
            f.fd?.close();
            asked.push(decode(f.bytes));
            if (asked.length % 2 !== 0) continue;
            const [a, b] = asked.slice(-2) as [Packet, Packet];
            const devnull = adoptFd(fs.openSync('/dev/null', 'r'));
            conn.send(encode(errorPacket(a.reqid, 0, Errno.EACCES, 'refused')));
            conn.send(encode(b), devnull); // the STARTTLS request itself serves as its "success" response
            devnull.close();
          }
        },
        () => {},
      );
    });
    const client = PoolClient.connect(socket);
    try {
      const devnull = adoptFd(fs.openSync('/dev/null', 'r'));
      const outcomes = await Promise.all(
        Array.from({ length: 2 * ROUNDS }, (_, i) =>
          client.request(starttls(i + 1), { fd: devnull }).then(
            (r) => {
              const label = r.fd ? 'fd' : 'no fd';
              r.fd?.close();
              return label;
            },
            (e: Failure) => e.code,
          ),
        ),
      );
      devnull.close();
      assert.deepEqual(
        outcomes.map((o, i) => `${i + 1}: ${o}`).filter((l, i) => l !== `${i + 1}: ${i % 2 === 0 ? 'EACCES' : 'fd'}`),
        [],
      );
    } finally {
      client.close();
      server?.close();
      listener.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
