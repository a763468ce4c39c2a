/**
 * The pool socket as a client sees it: the real daemon, the real addon,
 * real fds. Each test is named after the behaviour it checks.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { PoolClient } from '../../src/client/pool-client';
import { Failure } from '../../src/model/failure';
import { adoptFd, connectUnix, fdInfo, type OwnedFd } from '../../src/addon/ipc';
import { Cmd, decode, encode, Errno, IpProto, StartTlsFlag, TLSPOOL_IDENTITY_V1, type Packet } from '../../src/protocol';
import { Framer } from '../../src/protocol/framer';
import { startDaemon, tempDir, type TestDaemon } from '../../harness/daemon';
import { waitFor, waitForValue } from '../../harness/wait';

function starttls(ipproto: number, flags = 0, cmd: number = Cmd.STARTTLS_CLIENT): Packet {
  return {
    reqid: 0,
    cbid: 0,
    cmd: cmd as typeof Cmd.STARTTLS_CLIENT,
    starttls: { flags, local: 0, ipproto, streamid: 0, localid: '', remoteid: '' },
  };
}

/** The fd inside a Node socket, duplicated into an OwnedFd. */
function fdOf(handle: { _handle?: { fd?: number } }): OwnedFd {
  const fd = handle._handle?.fd;
  assert.ok(typeof fd === 'number' && fd >= 0, 'socket has an fd');
  const owned = adoptFd(fd);
  const copy = owned.dup();
  owned.release(); // Node still owns the original
  return copy;
}

async function rejection(p: Promise<unknown>): Promise<Failure> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof Failure, `expected a Failure, got ${String(e)}`);
    return e;
  }
  assert.fail('expected an ERROR response');
}

describe('pool socket', () => {
  let daemon: TestDaemon;
  let client: PoolClient;
  let tcpServer: net.Server;

  before(async () => {
    daemon = await startDaemon();
    client = PoolClient.connect(daemon.socket);
    tcpServer = net.createServer((s) => s.on('error', () => {}));
    await new Promise<void>((r) => tcpServer.listen(0, '127.0.0.1', r));
  });
  after(async () => {
    client.close();
    tcpServer.close();
    assert.equal(await daemon.stop(), 0);
  });

  test('PING is answered with the pool identity, and the client is logged with its credentials', async () => {
    const { identity } = await client.ping('20261125tester@example.org');
    assert.equal(identity, TLSPOOL_IDENTITY_V1);
    const line = await waitFor('ping log line', () =>
      daemon
        .logs()
        .split('\n')
        .find((l) => l.includes('20261125tester@example.org')),
    );
    const record = JSON.parse(line);
    assert.equal(record.msg, 'ping');
    assert.equal(record.pid, process.pid);
    assert.equal(record.uid, process.getuid!());
    assert.equal(record.executable, fs.readlinkSync('/proc/self/exe'));
  });

  test('the response copies the reqid the client chose', async () => {
    const { packet } = await client.request({ reqid: 0xbeef, cbid: 0, cmd: Cmd.PING, ping: { YYYYMMDD_producer: 'x' } });
    assert.equal(packet.reqid, 0xbeef);
    assert.equal(packet.cbid, 0);
  });

  test('an unknown command gets ERROR ENOSYS and the connection goes on', async () => {
    const e = await rejection(client.request({ reqid: 0, cbid: 0, cmd: 0x12345, raw: new Uint8Array(368) }));
    assert.equal(e.errno, Errno.ENOSYS);
    assert.match(e.message, /0x00012345 is not supported/);
    assert.equal((await client.ping()).identity, TLSPOOL_IDENTITY_V1);
  });

  test('a string without NUL gets ERROR EINVAL naming the field, and the connection goes on', async () => {
    const bytes = encode({ reqid: 77, cbid: 0, cmd: Cmd.PING, ping: { YYYYMMDD_producer: '' } });
    bytes.fill(0x41, 8, 8 + 136);
    const raw = connectUnix(daemon.socket);
    const framer = new Framer<OwnedFd>();
    const got: Packet[] = [];
    raw.start((chunk, fds) => got.push(...framer.push(chunk, fds).map((f) => decode(f.bytes))), () => {});
    raw.send(bytes);
    raw.send(encode({ reqid: 78, cbid: 0, cmd: Cmd.PING, ping: { YYYYMMDD_producer: 'after' } }));
    await waitFor('two responses', () => got.length === 2);
    raw.close();
    assert.equal(got[0].reqid, 77);
    assert.ok('error' in got[0] && got[0].error.tlserrno === Errno.EINVAL && /YYYYMMDD_producer/.test(got[0].error.message));
    assert.equal(got[1].reqid, 78);
    assert.equal(got[1].cmd, Cmd.PING);
  });

  test('300 concurrent requests are each answered once, by reqid', async () => {
    const answers = await Promise.all(
      Array.from({ length: 300 }, (_, i) =>
        client.request({ reqid: 1000 + i, cbid: 0, cmd: Cmd.PING, ping: { YYYYMMDD_producer: `n${i}` } }),
      ),
    );
    assert.deepEqual(
      answers.map((a) => a.packet.reqid),
      Array.from({ length: 300 }, (_, i) => 1000 + i),
    );
    assert.equal(client.outstanding, 0);
  });

  test('a reply without a cbid, or with one the pool never issued, gets ERROR EINVAL', async () => {
    const e = await rejection(
client.request(starttls(IpProto.TCP, 0, Cmd.STARTTLS_LOCALID)));
    assert.equal(e.errno, Errno.EINVAL);
    const raw = connectUnix(daemon.socket);
    const framer = new Framer<OwnedFd>();
    const got: Packet[] = [];
    raw.start((chunk, fds) => got.push(...framer.push(chunk, fds).map((f) => decode(f.bytes))), () => {});
    raw.send(encode({ ...starttls(6, 0, Cmd.STARTTLS_LOCALID), reqid: 5, cbid: 4242 }));
    await waitFor('response', () => got.length === 1);
    raw.close();
    assert.ok('error' in got[0] && got[0].error.tlserrno === Errno.EINVAL && /cbid 4242/.test(got[0].error.message));
  });

  test('STARTTLS without an fd gets ERROR EBADF', async () => {
    const e = await rejection(client.request(starttls(IpProto.TCP)));
    assert.equal(e.errno, Errno.EBADF);
  });

  test('STARTTLS on a file gets ERROR ENOTSOCK, and the pool closes its copy of the fd', async () => {
    const before = daemon.fdCount();
    const fd = adoptFd(fs.openSync('/dev/null', 'r'));
    const e = await rejection(client.request(starttls(IpProto.TCP), { fd }));
    fd.close();
    assert.equal(e.errno, Errno.ENOTSOCK);
    await waitForValue('daemon fd count', () => daemon.fdCount(), before);
  });

  test('STARTTLS over UDP without the DTLS flag gets ERROR EPROTONOSUPPORT', async () => {
    const udp = dgram.createSocket('udp4');
    await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
    udp.connect(9, '127.0.0.1');
    await new Promise((r) => udp.once('connect', r));
    const fd = fdOf(udp as unknown as { _handle: { fd: number } });
    try {
      const e = await rejection(client.request(starttls(IpProto.UDP), { fd }));
      assert.equal(e.errno, Errno.EPROTONOSUPPORT);
      assert.match(e.message, /DTLS/);
    } finally {
      fd.close();
      udp.close();
    }
  });

  test('STARTTLS with ipproto TCP on a UDP socket gets ERROR EPROTOTYPE', async () => {
    const udp = dgram.createSocket('udp4');
    await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
    const fd = fdOf(udp as unknown as { _handle: { fd: number } });
    try {
      const e = await rejection(client.request(starttls(IpProto.TCP), { fd }));
      assert.equal(e.errno, Errno.EPROTOTYPE);
    } finally {
      fd.close();
      udp.close();
    }
  });

  test('STARTTLS with DTLS over TCP gets ERROR EPROTONOSUPPORT, SCTP too', async () => {
    const sock = net.connect((tcpServer.address() as net.AddressInfo).port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    const fd = fdOf(sock as unknown as { _handle: { fd: number } });
    try {
      assert.equal((await rejection(client.request(starttls(IpProto.TCP, StartTlsFlag.DTLS), { fd }))).errno, Errno.EPROTONOSUPPORT);
      assert.equal((await rejection(client.request(starttls(IpProto.SCTP, StartTlsFlag.DTLS), { fd }))).errno, Errno.EPROTONOSUPPORT);
    } finally {
      fd.close();
      sock.destroy();
    }
  });

  test('STARTTLS on an unconnected socket gets ERROR ENOTCONN', async () => {
    const tcp = net.createServer();
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
    const fd = fdOf(tcp as unknown as { _handle: { fd: number } });
    try {
      assert.equal(fdInfo(fd.fd).connected, false);
      const e = await rejection(client.request(starttls(IpProto.TCP), { fd }));
      assert.equal(e.errno, Errno.ENOTCONN);
    } finally {
      fd.close();
      tcp.close();
    }
  });

  test('an fd sent with a PING is closed by the pool', async () => {
    await client.ping();
    const before = daemon.fdCount();
    const fds = Array.from({ length: 20 }, () => adoptFd(fs.openSync('/dev/null', 'r')));
    await Promise.all(fds.map((fd) => client.request({ reqid: 0, cbid: 0, cmd: Cmd.PING, ping: { YYYYMMDD_producer: 'fd' } }, { fd })));
    for (const fd of fds) fd.close();
    assert.equal(daemon.fdCount(), before);
  });

  test('a client that vanishes mid-packet, holding an fd, costs the pool nothing', async () => {
    await client.ping();
    const before = daemon.fdCount();
    for (let i = 0; i < 20; i++) {
      const raw = connectUnix(daemon.socket);
      const fd = adoptFd(fs.openSync('/dev/null', 'r'));
      raw.send(encode({ reqid: 1, cbid: 0, cmd: Cmd.PING, ping: { YYYYMMDD_producer: 'half' } }).subarray(0, 100), fd);
      fd.close();
      raw.close();
    }
    assert.equal((await client.ping()).identity, TLSPOOL_IDENTITY_V1);
    await waitForValue('daemon fd count', () => daemon.fdCount(), before);
  });
});

describe('socket safety and lifecycle', () => {
  test('the socket is 0600 and lives in a directory only its owner can write', async () => {
    const d = await startDaemon();
    try {
      assert.equal(fs.statSync(d.socket).mode & 0o777, 0o600);
      assert.equal(fs.statSync(path.dirname(d.socket)).mode & 0o022, 0);
    } finally {
      await d.stop();
    }
  });

  test('with socket_group the socket is 0660 and belongs to that group', async () => {
    const gid = process.getgid!();
    const d = await startDaemon({ config: `socket_group: ${gid}\n` });
    try {
      const st = fs.statSync(d.socket);
      assert.equal(st.mode & 0o777, 0o660);
      assert.equal(st.gid, gid);
    } finally {
      await d.stop();
    }
  });

  test('a second daemon on the same socket exits with a clear error and the first keeps serving', async () => {
    const first = await startDaemon();
    try {
      await assert.rejects(startDaemon({ dir: first.dir }), /already serving/);
      const c = PoolClient.connect(first.socket);
      assert.equal((await c.ping()).identity, TLSPOOL_IDENTITY_V1);
      c.close();
    } finally {
      await first.stop();
    }
  });

  test('a stale socket file is replaced', async () => {
    const first = await startDaemon();
    first.proc.kill('SIGKILL');
    await new Promise((r) => first.proc.once('exit', r));
    assert.ok(fs.existsSync(first.socket), 'a killed daemon leaves its socket behind');
    const second = await startDaemon({ dir: first.dir });
    try {
      assert.match(second.logs(), /replaced a stale socket/);
      const c = PoolClient.connect(second.socket);
      assert.equal((await c.ping()).identity, TLSPOOL_IDENTITY_V1);
      c.close();
    } finally {
      await second.stop();
    }
  });

  test('a socket directory that others can write is refused', async () => {
    const dir = tempDir('tlspool-open-');
    fs.chmodSync(dir, 0o777);
    await assert.rejects(startDaemon({ args: ['--socket', path.join(dir, 'pool.sock')] }), /others can write there/);
  });

  test('SIGTERM stops the daemon with exit 0, disconnects its clients and removes the socket', async () => {
    const d = await startDaemon();
    const c = PoolClient.connect(d.socket);
    await c.ping();
    const closed = new Promise((r) => c.onClose(r));
    assert.equal(await d.stop(), 0);
    await closed;
    assert.equal(fs.existsSync(d.socket), false);
    assert.match(d.logs(), /"msg":"stopped"/);
  });

  test('SIGHUP reloads the configuration file and applies the log level', async () => {
    const d = await startDaemon({ config: 'log:\n  level: info\n' });
    try {
      fs.writeFileSync(path.join(d.dir, 'tlspool.yaml'), 'log:\n  level: debug\n');
      d.proc.kill('SIGHUP');
      await waitFor('reload log line', () => /"msg":"configuration reloaded"/.test(d.logs()));
      const c = PoolClient.connect(d.socket);
      await c.ping();
      c.close();
      await waitFor('a debug line after reload', () => /"level":"debug"/.test(d.logs()));
      fs.writeFileSync(path.join(d.dir, 'tlspool.yaml'), 'log:\n  level: loud\n');
      d.proc.kill('SIGHUP');
      await waitFor('reload failure', () => /configuration reload failed/.test(d.logs()));
      assert.match(d.logs(), /tlspool\.yaml:2:\d+: log\.level/);
    } finally {
      assert.equal(await d.stop(), 0);
    }
  });
});
