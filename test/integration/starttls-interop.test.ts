/**
 * STARTTLS against real TLS peers (openssl, GnuTLS tools) and against the
 * pool itself: the handshake completes, the response names the validated
 * identities, and data flows both ways over the plaintext fd.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as dgram from 'node:dgram';
import { PoolClient } from '../../src/client/pool-client';
import { IpProto, StartTlsFlag } from '../../src/protocol';
import { startGnutlsClient, startGnutlsServer, startOpensslClient, startOpensslServer, type Peer } from '../../harness/peers';
import { CLIENT_EMAIL, getPki, SERVER_NAME, type TestPki } from '../../harness/pki';
import { waitFor, waitForValue } from '../../harness/wait';
import { exchangeDatagrams, PlainDatagrams, Plaintext, type Pool, poolToPool, startExamplePool, TcpListener, tcpConnect, udpConnect } from '../../harness/starttls';
import { takeFd } from '../../src/addon/node-socket';

const GNUTLS_PRIORITY = { '1.3': 'NORMAL:-VERS-ALL:+VERS-TLS1.3', '1.2': 'NORMAL:-VERS-ALL:+VERS-TLS1.2' } as const;
const VERSION_NAME = { '1.3': 'TLS1.3', '1.2': 'TLS1.2' } as const;

describe('STARTTLS interop', () => {
  let pki: TestPki;
  let pool: Pool;
  let listener: TcpListener;
  let fdsAtStart: number;
  const peers: Peer[] = [];
  const peer = <P extends Peer>(p: P): P => {
    peers.push(p);
    return p;
  };

  before(async () => {
    pki = getPki();
    pool = await startExamplePool();
    listener = await TcpListener.open();
    fdsAtStart = pool.daemon.fdCount();
  });
  after(async () => {
    await Promise.all(peers.map((p) => p.stop()));
    await listener.close();
    await pool.stop();
  });

  /** gnutls-cli to the listener, trusting the test CA and showing alice's certificate. */
  const gnutlsClientAsAlice = (version: '1.2' | '1.3', extraArgs: string[] = []) =>
    peer(
      startGnutlsClient({
        port: listener.port,
        serverName: SERVER_NAME,
        caPath: pki.ca.certPath,
        certPath: pki.client.chainPath,
        keyPath: pki.client.keyPath,
        priority: GNUTLS_PRIORITY[version],
        extraArgs,
      }),
    );

  /** The newest record in the connection log. */
  const lastRecord = () => pool.connections()[0]!;

  for (const version of ['1.3', '1.2'] as const) {
    test(`pool client and openssl s_server talk over TLS ${version}, data both ways`, async () => {
      const server = peer(await startOpensslServer({ certPath: pki.server.chainPath, keyPath: pki.server.keyPath, version }));
      const fd = await tcpConnect(server.port);
      const r = await pool.client.starttls({ role: 'client', fd, remoteid: SERVER_NAME });
      fd.close();
      assert.equal(r.remoteid, SERVER_NAME);
      assert.equal(r.localid, '');
      const plain = new Plaintext(r.fd);
      plain.write('hello from the pool client\n');
      await server.waitFor('hello from the pool client');
      server.write('hello from s_server\n');
      await plain.until('hello from s_server\n');
      await plain.close();
      await server.stop();
      assert.equal(lastRecord().version, VERSION_NAME[version]);
    });

    test(`pool client and gnutls-serv talk over TLS ${version}, data echoed back`, async () => {
      const server = peer(
        await startGnutlsServer({ certPath: pki.server.chainPath, keyPath: pki.server.keyPath, priority: GNUTLS_PRIORITY[version] }),
      );
      const fd = await tcpConnect(server.port);
      const r = await pool.client.starttls({ role: 'client', fd, remoteid: SERVER_NAME });
      fd.close();
      assert.equal(r.remoteid, SERVER_NAME);
      const plain = new Plaintext(r.fd);
      plain.write('echo me, gnutls-serv\n');
      await plain.until('echo me, gnutls-serv\n');
      await plain.close();
      await server.stop();
      assert.equal(lastRecord().version, VERSION_NAME[version]);
    });

    test(`openssl s_client with a client certificate and a pool server talk over TLS ${version}`, async () => {
      const c = peer(
        startOpensslClient({
          port: listener.port,
          serverName: SERVER_NAME,
          caPath: pki.ca.certPath,
          certPath: pki.client.chainPath,
          keyPath: pki.client.keyPath,
          version,
        }),
      );
      const fd = await listener.accept();
      const r = await pool.client.starttls({ role: 'server', fd, localid: SERVER_NAME });
      fd.close();
      assert.equal(r.localid, SERVER_NAME);
      assert.equal(r.remoteid, CLIENT_EMAIL);
      const plain = new Plaintext(r.fd);
      await c.waitFor(/Verify return code: 0 \(ok\)/);
      c.write('hello from s_client\n');
      await plain.until('hello from s_client\n');
      plain.write('hello from the pool server\n');
      await c.waitFor('hello from the pool server');
      await plain.close();
      await c.stop();
      assert.equal(lastRecord().version, VERSION_NAME[version]);
    });

    test(`gnutls-cli with a client certificate and a pool server talk over TLS ${version}`, async () => {
      const c = gnutlsClientAsAlice(version);
      const fd = await listener.accept();
      const r = await pool.client.starttls({ role: 'server', fd, localid: SERVER_NAME });
      fd.close();
      assert.equal(r.remoteid, CLIENT_EMAIL);
      const plain = new Plaintext(r.fd);
      await c.waitFor('Handshake was completed');
      c.write('hello from gnutls-cli\n');
      await plain.until('hello from gnutls-cli\n');
      plain.write('hello from the pool server\n');
      await c.waitFor('hello from the pool server');
      await plain.close();
      await c.stop();
      assert.equal(lastRecord().version, VERSION_NAME[version]);
    });
  }

  for (const [flagName, flag] of [
    ['REQUEST_REMOTEID', StartTlsFlag.REQUEST_REMOTEID],
    ['IGNORE_REMOTEID', StartTlsFlag.IGNORE_REMOTEID],
  ] as const) {
    test(`openssl s_client without a client certificate is served when the pool server says ${flagName}`, async () => {
      const c = peer(startOpensslClient({ port: listener.port, serverName: SERVER_NAME, caPath: pki.ca.certPath }));
      const fd = await listener.accept();
      const r = await pool.client.starttls({ role: 'server', fd, localid: SERVER_NAME, flags: flag });
      fd.close();
      assert.equal(r.localid, SERVER_NAME);
      assert.equal(r.remoteid, '');
      const plain = new Plaintext(r.fd);
      c.write('anonymous client here\n');
      await plain.until('anonymous client here\n');
      plain.write('served\n');
      await c.waitFor('served');
      await plain.close();
      await c.stop();
    });

    test(`gnutls-cli without a client certificate is served when the pool server says ${flagName}`, async () => {
      const c = peer(startGnutlsClient({ port: listener.port, serverName: SERVER_NAME, caPath: pki.ca.certPath }));
      const fd = await listener.accept();
      const r = await pool.client.starttls({ role: 'server', fd, localid: SERVER_NAME, flags: flag });
      fd.close();
      assert.equal(r.remoteid, '');
      const plain = new Plaintext(r.fd);
      await c.waitFor('Handshake was completed');
      c.write('no certificate here\n');
      await plain.until('no certificate here\n');
      plain.write('served\n');
      await c.waitFor('served');
      await plain.close();
      await c.stop();
    });
  }

  test('gnutls-cli --rehandshake (TLS 1.2) renegotiates with a V1 pool server that has no session tickets (IGNORE_CACHES); data flows after it', async () => {
    const c = gnutlsClientAsAlice('1.2', ['--rehandshake']);
    const fd = await listener.accept();
    const r = await pool.client.starttls({ role: 'server', fd, localid: SERVER_NAME, flags: StartTlsFlag.IGNORE_CACHES });
    fd.close();
    const plain = new Plaintext(r.fd);
    await c.waitFor('ReHandshake was completed');
    c.write('after the rehandshake\n');
    await plain.until('after the rehandshake\n');
    plain.write('and back\n');
    await c.waitFor('and back');
    assert.match(pool.daemon.logs(), /"msg":"the peer renegotiated the TLS session","connection":\d+,"outcome":"done"/);
    await plain.close();
    await c.stop();
  });

  test('a pool server with REQUEST_REMOTEID reports the certificate a client does present', async () => {
    const c = peer(
      startOpensslClient({
        port: listener.port,
        serverName: SERVER_NAME,
        caPath: pki.ca.certPath,
        certPath: pki.client.chainPath,
        keyPath: pki.client.keyPath,
      }),
    );
    const fd = await listener.accept();
    const r = await pool.client.starttls({ role: 'server', fd, localid: SERVER_NAME, remoteid: CLIENT_EMAIL, flags: StartTlsFlag.REQUEST_REMOTEID });
    fd.close();
    assert.equal(r.remoteid, CLIENT_EMAIL);
    const plain = new Plaintext(r.fd);
    c.write('alice, requested\n');
    await plain.until('alice, requested\n');
    await plain.close();
  });

  test('a pool client presents its certificate to openssl s_server -Verify 1, which sees alice', async () => {
    const server = peer(
      await startOpensslServer({
        certPath: pki.server.chainPath,
        keyPath: pki.server.keyPath,
        caPath: pki.ca.certPath,
        clientCert: 'require',
      }),
    );
    const fd = await tcpConnect(server.port);
    const r = await pool.client.starttls({ role: 'client', fd, localid: CLIENT_EMAIL, remoteid: SERVER_NAME });
    fd.close();
    assert.equal(r.localid, CLIENT_EMAIL);
    assert.equal(r.remoteid, SERVER_NAME);
    const plain = new Plaintext(r.fd);
    plain.write('certified hello\n');
    await server.waitFor('certified hello');
    assert.match(server.output(), /depth=0 CN = alice, emailAddress = alice@example\.test|subject=CN = alice/);
    assert.doesNotMatch(server.output(), /verify error/);
    server.write('welcome alice\n');
    await plain.until('welcome alice\n');
    await plain.close();
  });

  test('pool client and pool server talk through one daemon over loopback TCP, each seeing the other certified', async () => {
    const [c, s] = await poolToPool(pool, listener, { localid: CLIENT_EMAIL, remoteid: SERVER_NAME }, { localid: SERVER_NAME });
    assert.deepEqual([c.localid, c.remoteid], [CLIENT_EMAIL, SERVER_NAME]);
    assert.deepEqual([s.localid, s.remoteid], [SERVER_NAME, CLIENT_EMAIL]);
    const cp = new Plaintext(c.fd);
    const sp = new Plaintext(s.fd);
    cp.write('from the client side\n');
    await sp.until('from the client side\n');
    sp.write('from the server side\n');
    await cp.until('from the server side\n');
    await cp.close();
    await sp.untilEnd();
    await sp.close();
  });

  test('pool to pool: 8 MiB arrive intact, and the side that ends first still gets the reply (half-close)', async () => {
    const [c, s] = await poolToPool(pool, listener, { localid: CLIENT_EMAIL, remoteid: SERVER_NAME }, { localid: SERVER_NAME });
    const big = crypto.randomBytes(8 << 20);
    const cp = new Plaintext(c.fd, { halfOpen: true });
    const sp = new Plaintext(s.fd, { halfOpen: true });
    cp.socket.end(big);
    await sp.untilEnd();
    const received = Buffer.from(sp.received, 'latin1');
    assert.equal(received.length, big.length);
    assert.ok(received.equals(big), 'the bytes arrive as sent');
    const digest = crypto.createHash('sha256').update(received).digest('hex');
    sp.socket.end(digest);
    await cp.untilEnd();
    assert.equal(cp.received, digest);
    await cp.close();
    await sp.close();
    const [a, b] = await waitFor('both ends logged', () => {
      const rs = pool.connections().slice(0, 2);
      return rs.every((r) => r.state === 'closed') && rs;
    });
    const server = [a!, b!].find((r) => r.role === 'server')!;
    assert.deepEqual([server.bytesIn, server.bytesOut, server.endReason], [big.length, 64, 'closed by peer']);
  });

  test('anonymous TLS between pool client and pool server: no identities either side, data both ways', async () => {
    const clientFd = await tcpConnect(listener.port);
    const serverFd = await listener.accept();
    const [c, s] = await Promise.all([
      pool.client.starttls({ role: 'client', fd: clientFd, flags: StartTlsFlag.IGNORE_REMOTEID }),
      pool.client.starttls({ role: 'server', fd: serverFd, flags: StartTlsFlag.IGNORE_REMOTEID }),
    ]);
    clientFd.close();
    serverFd.close();
    assert.deepEqual([c.localid, c.remoteid], ['', '']);
    assert.deepEqual([s.localid, s.remoteid], ['', '']);
    const cp = new Plaintext(c.fd);
    const sp = new Plaintext(s.fd);
    cp.write('nobody to nobody\n');
    await sp.until('nobody to nobody\n');
    sp.write('and back\n');
    await cp.until('and back\n');
    await cp.close();
    await sp.close();
    const [a, b] = pool.connections();
    for (const rec of [a!, b!]) {
      assert.match(rec.cipher ?? '', /anon/i);
      assert.deepEqual(rec.peerChain, []);
    }
  });

  test('a pool client with IGNORE_REMOTEID and no local identity still speaks TLS 1.3 to a TLS 1.3-only server', async () => {
    const server = peer(await startOpensslServer({ certPath: pki.server.chainPath, keyPath: pki.server.keyPath, version: '1.3' }));
    const fd = await tcpConnect(server.port);
    const r = await pool.client.starttls({ role: 'client', fd, flags: StartTlsFlag.IGNORE_REMOTEID });
    fd.close();
    assert.deepEqual([r.localid, r.remoteid], ['', '']);
    const plain = new Plaintext(r.fd);
    plain.write('no questions asked\n');
    await server.waitFor('no questions asked');
    await plain.close();
    assert.equal(lastRecord().version, 'TLS1.3');
  });

  test('DTLS 1.2 with gnutls-serv --udp: a datagram each way', async () => {
    const server = peer(await startGnutlsServer({ certPath: pki.server.chainPath, keyPath: pki.server.keyPath, udp: true }));
    const fd = await udpConnect(server.port);
    const r = await pool.client.starttls({ role: 'client', fd, ipproto: IpProto.UDP, remoteid: SERVER_NAME });
    fd.close();
    assert.equal(r.remoteid, SERVER_NAME);
    const dgrams = new PlainDatagrams(r.fd);
    dgrams.send('one datagram');
    assert.equal((await dgrams.receive()).toString(), 'one datagram');
    dgrams.close();
    assert.equal(lastRecord().version, 'DTLS1.2');
  });

  test('DTLS 1.2 with openssl s_server -dtls1_2: a datagram each way', async () => {
    const server = peer(await startOpensslServer({ certPath: pki.server.chainPath, keyPath: pki.server.keyPath, dtls: true }));
    const fd = await udpConnect(server.port);
    const r = await pool.client.starttls({ role: 'client', fd, ipproto: IpProto.UDP, remoteid: SERVER_NAME });
    fd.close();
    const dgrams = new PlainDatagrams(r.fd);
    dgrams.send('to s_server\n');
    await server.waitFor('to s_server');
    server.write('to the pool\n');
    assert.equal((await dgrams.receive()).toString(), 'to the pool\n');
    dgrams.close();
  });

  test('DTLS 1.2 between pool client and pool server over a pair of connected UDP sockets', async () => {
    const a = dgram.createSocket('udp4');
    const b = dgram.createSocket('udp4');
    await Promise.all([a, b].map((u) => new Promise<void>((resolve) => u.bind(0, '127.0.0.1', resolve))));
    await new Promise<void>((resolve) => a.connect(b.address().port, '127.0.0.1', resolve));
    await new Promise<void>((resolve) => b.connect(a.address().port, '127.0.0.1', resolve));
    const clientFd = takeFd(a);
    const serverFd = takeFd(b);
    const serverSide = PoolClient.connect(pool.daemon.socket);
    const [c, s] = await Promise.all([
      pool.client.starttls({ role: 'client', fd: clientFd, ipproto: IpProto.UDP, localid: CLIENT_EMAIL, remoteid: SERVER_NAME }),
      serverSide.starttls({ role: 'server', fd: serverFd, ipproto: IpProto.UDP, localid: SERVER_NAME }),
    ]);
    clientFd.close();
    serverFd.close();
    serverSide.close();
    assert.deepEqual([c.localid, c.remoteid, s.localid, s.remoteid], [CLIENT_EMAIL, SERVER_NAME, SERVER_NAME, CLIENT_EMAIL]);
    const cd = new PlainDatagrams(c.fd);
    const sd = new PlainDatagrams(s.fd);
    await exchangeDatagrams(cd, sd);
    cd.close();
    // The client's close_notify is the server application's end of stream.
    assert.equal((await sd.receive()).length, 0);
    sd.close();
  });

  test('once every connection is closed the daemon holds no more descriptors than before', async () => {
    await Promise.all(peers.map((p) => p.stop()));
    await waitForValue('daemon fd count', () => pool.daemon.fdCount(), fdsAtStart);
  });
});
