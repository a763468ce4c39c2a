/**
 * STARTTLS when things go wrong around the handshake: a silent, a vanishing
 * or a garbling peer, nobody listening, the application leaving halfway, the
 * daemon stopping; many sessions at once. Each ends with the documented
 * errno, nothing hangs, and the daemon keeps no descriptor afterwards.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { PoolClient } from '../../src/client/pool-client';
import { Errno, IpProto, StartTlsFlag } from '../../src/protocol';
import { freePort, startGnutlsServer, startOpensslClient, type Peer } from '../../harness/peers';
import { CLIENT_EMAIL, getPki, SERVER_NAME, type TestPki } from '../../harness/pki';
import { Plaintext, type Pool, poolToPool, rejection, startExamplePool, startPool, TcpListener, tcpConnect, udpConnect } from '../../harness/starttls';
import { waitFor, waitForValue } from '../../harness/wait';

/** A TCP server that does `onData` with what a client sends; it keeps its sockets until close(). */
async function rawServer(onData: (s: net.Socket, data: Buffer) => void = () => {}) {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
    s.on('data', (d) => onData(s, d));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    sockets,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('STARTTLS lifecycle', () => {
  let pki: TestPki;
  let pool: Pool;
  let listener: TcpListener;
  let fdsAtStart: number;
  const peers: Peer[] = [];

  before(async () => {
    pki = getPki();
    pool = await startExamplePool({ handshake_timeout: 1 });
    listener = await TcpListener.open();
    fdsAtStart = pool.daemon.fdCount();
  });
  after(async () => {
    await Promise.all(peers.map((p) => p.stop()));
    await listener.close();
    await pool.stop();
  });

  test('a peer that never answers makes the handshake fail with ETIMEDOUT after tls.handshake_timeout', async () => {
    const silent = await rawServer();
    try {
      const fd = await tcpConnect(silent.port);
      const e = await rejection(pool.client.starttls({ role: 'client', fd, remoteid: SERVER_NAME }));
      fd.close();
      assert.equal(e.errno, Errno.ETIMEDOUT);
      assert.match(e.message, /timed out/);
      assert.equal(pool.connections()[0]!.error?.errno, 'ETIMEDOUT');
    } finally {
      await silent.close();
    }
  });

  test('a peer that closes the connection during the handshake gives ECONNRESET', async () => {
    const closer = await rawServer((s) => s.destroy());
    try {
      const fd = await tcpConnect(closer.port);
      const e = await rejection(pool.client.starttls({ role: 'client', fd, remoteid: SERVER_NAME }));
      fd.close();
      assert.equal(e.errno, Errno.ECONNRESET);
      assert.match(e.message, /closed the connection/);
    } finally {
      await closer.close();
    }
  });

  test('a peer that answers with something other than TLS gives EPROTO with GnuTLS words', async () => {
    const http = await rawServer((s) => s.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n'));
    try {
      const fd = await tcpConnect(http.port);
      const e = await rejection(pool.client.starttls({ role: 'client', fd, remoteid: SERVER_NAME }));
      fd.close();
      assert.equal(e.errno, Errno.EPROTO);
      assert.match(e.message, /TLS failed: .+/);
    } finally {
      await http.close();
    }
  });

  test('DTLS to a UDP port where nothing listens gives ECONNREFUSED', async () => {
    const fd = await udpConnect(await freePort('udp'));
    const e = await rejection(pool.client.starttls({ role: 'client', fd, ipproto: IpProto.UDP, remoteid: SERVER_NAME }));
    fd.close();
    assert.equal(e.errno, Errno.ECONNREFUSED);
  });

  test('an application that leaves while its handshake waits on the network has it aborted and logged as ECANCELED', async () => {
    const silent = await rawServer();
    const app = PoolClient.connect(pool.daemon.socket);
    try {
      const since = pool.connections()[0]?.id ?? 0;
      const fd = await tcpConnect(silent.port);
      const pending = app.starttls({ role: 'client', fd, remoteid: SERVER_NAME });
      pending.catch(() => {});
      await waitFor('the peer to get a ClientHello', () => silent.sockets.size === 1 && [...silent.sockets][0]!.bytesRead > 0);
      app.close();
      fd.close();
      const rec = await waitFor('the connection to be logged as ended', () => pool.connections().find((r) => r.id > since && r.endedAt));
      assert.equal(rec.state, 'failed');
      assert.equal(rec.error?.errno, 'ECANCELED');
      // The pool let go of the socket: the peer sees the connection end.
      await waitFor('the peer to see the end', () => silent.sockets.size === 0);
    } finally {
      await silent.close();
    }
  });

  test('an application that leaves while a local identity proposal waits for it has the handshake aborted, and the peer is let go', async () => {
    const app = PoolClient.connect(pool.daemon.socket);
    const c = startOpensslClient({ port: listener.port, serverName: SERVER_NAME });
    peers.push(c);
    const since = pool.connections()[0]?.id ?? 0;
    const fd = await listener.accept();
    let proposed!: () => void;
    const proposal = new Promise<void>((resolve) => (proposed = resolve));
    const pending = app.starttls({
      role: 'server',
      fd,
      flags: StartTlsFlag.REQUEST_REMOTEID,
      onLocalId: () => {
        proposed();
        return new Promise<string>(() => {}); // never answers
      },
    });
    pending.catch(() => {});
    await proposal;
    app.close();
    fd.close();
    const rec = await waitFor('the connection to be logged as ended', () => pool.connections().find((r) => r.id > since && r.endedAt));
    assert.equal(rec.error?.errno, 'ECANCELED');
    assert.notEqual(await c.exited(), 0);
  });

  test('the time the application takes to answer a local identity proposal does not count against tls.handshake_timeout', async () => {
    const c = startOpensslClient({ port: listener.port, serverName: SERVER_NAME, caPath: pki.ca.certPath });
    peers.push(c);
    const fd = await listener.accept();
    const r = await pool.client.starttls({
      role: 'server',
      fd,
      flags: StartTlsFlag.REQUEST_REMOTEID,
      // Longer than the 1 s handshake_timeout of this pool: a person may be deciding.
      onLocalId: ({ localid }) => new Promise<string>((resolve) => setTimeout(() => resolve(localid), 1500)),
    });
    fd.close();
    assert.equal(r.localid, SERVER_NAME);
    await c.waitFor(/Verify return code: 0 \(ok\)/);
    await new Plaintext(r.fd).close();
  });

  test('sixty sessions at once, thirty pool-to-pool pairs, all carry their own data', async () => {
    const serverSide = PoolClient.connect(pool.daemon.socket);
    try {
      const pairs = await Promise.all(
        Array.from({ length: 30 }, async (_, i) => {
          const [c, s] = await poolToPool(pool, listener, { localid: CLIENT_EMAIL, remoteid: SERVER_NAME }, { localid: SERVER_NAME }, serverSide);
          return { i, c: new Plaintext(c.fd), s: new Plaintext(s.fd) };
        }),
      );
      await Promise.all(
        pairs.map(async ({ i, c, s }) => {
          c.write(`pair ${i} says hello\n`);
          await s.until(`pair ${i} says hello\n`);
          s.write(`pair ${i} answers\n`);
          await c.until(`pair ${i} answers\n`);
          assert.equal(s.received, `pair ${i} says hello\n`);
          await c.close();
          await s.untilEnd();
          await s.close();
        }),
      );
    } finally {
      serverSide.close();
    }
  });

  test('a session holds its descriptors no longer than it runs: none remain after an ERROR, nor once the log says closed', async () => {
    // The daemon closes what a session used before it answers ERROR, and before it logs the end of an established
    // one; nothing waits for the garbage collector. So the count is exact at those moments, without waiting.
    await waitForValue('daemon fd count after the tests before', () => pool.daemon.fdCount(), fdsAtStart);
    const closer = await rawServer((s) => s.destroy());
    const server = await startGnutlsServer({ certPath: pki.server.chainPath, keyPath: pki.server.keyPath });
    peers.push(server);
    try {
      for (let i = 0; i < 60; i++) {
        const fd = await tcpConnect(closer.port);
        await rejection(pool.client.starttls({ role: 'client', fd, remoteid: SERVER_NAME }));
        fd.close();
        assert.equal(pool.daemon.fdCount(), fdsAtStart, `after failed session ${i}`);
      }
      const since = pool.connections()[0]!.id;
      for (let i = 0; i < 30; i++) {
        const fd = await tcpConnect(server.port);
        const r = await pool.client.starttls({ role: 'client', fd, remoteid: SERVER_NAME });
        fd.close();
        await new Plaintext(r.fd).close();
      }
      await waitFor('the 30 sessions to be logged closed', () => {
        const recs = pool.connections().filter((rec) => rec.id > since);
        return recs.length === 30 && recs.every((rec) => rec.state === 'closed');
      });
      assert.equal(pool.daemon.fdCount(), fdsAtStart, 'after 30 established sessions');
    } finally {
      await closer.close();
    }
  });
});

describe('STARTTLS when the daemon stops', () => {
  test('a handshake waiting on the network and one waiting on a proposal both get ESHUTDOWN, and the daemon exits 0', async () => {
    const pki = getPki();
    const pool = await startPool({ identities: [[SERVER_NAME, pki.server]], trust: [pki.ca] });
    const silent = await rawServer();
    const listener = await TcpListener.open();
    const c = startOpensslClient({ port: listener.port, serverName: SERVER_NAME });
    try {
      const fd1 = await tcpConnect(silent.port);
      const onNetwork = pool.client.starttls({ role: 'client', fd: fd1, remoteid: SERVER_NAME });
      const fd2 = await listener.accept();
      let proposed!: () => void;
      const proposal = new Promise<void>((resolve) => (proposed = resolve));
      const onProposal = pool.client.starttls({
        role: 'server',
        fd: fd2,
        flags: StartTlsFlag.REQUEST_REMOTEID,
        onLocalId: () => {
          proposed();
          return new Promise<string>(() => {});
        },
      });
      await proposal;
      await waitFor('the silent peer to get a ClientHello', () => [...silent.sockets].some((s) => s.bytesRead > 0));
      const exit = pool.daemon.stop();
      // Both reject at once: take both rejections together, so neither is ever unhandled.
      for (const e of await Promise.all([rejection(onNetwork), rejection(onProposal)])) {
        assert.equal(e.errno, Errno.ESHUTDOWN, e.message);
        assert.match(e.message, /shutting down/);
      }
      fd1.close();
      fd2.close();
      assert.equal(await exit, 0);
    } finally {
      await c.stop();
      await silent.close();
      await listener.close();
      await pool.stop();
    }
  });
});
