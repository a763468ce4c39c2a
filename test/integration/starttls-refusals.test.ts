/**
 * STARTTLS refuses peers it cannot validate, with the errno docs/errors.md
 * documents and a message naming the problem; the flags that loosen the
 * rules (IGNORE_REMOTEID, REQUEST_REMOTEID) accept them; requirements the
 * pool cannot meet are refused; IGNORE_CACHES validates afresh.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { PoolClient } from '../../src/client/pool-client';
import { Errno, errnoName, StartTlsFlag } from '../../src/protocol';
import { startGnutlsClient, startOpensslClient, startOpensslServer, type Peer } from '../../harness/peers';
import { type Cert, CLIENT_EMAIL, getPki, SERVER_NAME, type TestPki } from '../../harness/pki';
import type { OwnedFd } from '../../src/addon/ipc';
import { waitFor } from '../../harness/wait';
import { Plaintext, type Pool, rejection, startExamplePool, startPool, TcpListener, tcpConnect } from '../../harness/starttls';

describe('STARTTLS refusals', () => {
  let pki: TestPki;
  let pool: Pool;
  let listener: TcpListener;
  const peers: Peer[] = [];

  before(async () => {
    pki = getPki();
    pool = await startExamplePool({ crl_files: [pki.crlPath] });
    listener = await TcpListener.open();
  });
  after(async () => {
    await Promise.all(peers.map((p) => p.stop()));
    await listener.close();
    await pool.stop();
  });

  /** An openssl s_server presenting `cert`, and a pool client's STARTTLS to it. */
  async function clientTo(cert: Cert, opts: { remoteid?: string; flags?: number } = {}) {
    const server = await startOpensslServer({ certPath: cert.chainPath, keyPath: cert.keyPath });
    peers.push(server);
    const fd = await tcpConnect(server.port);
    const result = pool.client.starttls({ role: 'client', fd, remoteid: opts.remoteid ?? SERVER_NAME, flags: opts.flags });
    result.finally(() => fd.close()).catch(() => {});
    return { server, result };
  }

  const refusals: Array<{ what: string; cert: () => Cert; remoteid?: string; errno: number; message: RegExp; alert: RegExp }> = [
    {
      what: 'a certificate for another name',
      cert: () => pki.server,
      remoteid: 'other.example.test',
      errno: Errno.EACCES,
      message: /server certificate is not for other\.example\.test \(it names server\.example\.test\)/,
      alert: /bad certificate/,
    },
    {
      what: 'a certificate from an unknown CA',
      cert: () => pki.otherCaServer,
      errno: Errno.EACCES,
      message: /server certificate for server\.example\.test is issued by an unknown CA \(.*Some Other CA.*\)/,
      alert: /unknown ca/,
    },
    {
      what: 'an expired certificate',
      cert: () => pki.expired,
      errno: Errno.EKEYEXPIRED,
      message: /server certificate for server\.example\.test expired on 2001-01-01/,
      alert: /certificate expired/,
    },
    {
      what: 'a certificate that is not yet valid',
      cert: () => pki.notYetValid,
      errno: Errno.EKEYREJECTED,
      message: /server certificate for server\.example\.test is not valid before 2099-01-01/,
      alert: /certificate expired/,
    },
    {
      what: 'a self-signed certificate',
      cert: () => pki.selfSigned,
      errno: Errno.EACCES,
      message: /server certificate for server\.example\.test is self-signed and not trusted/,
      alert: /unknown ca/,
    },
    {
      what: 'a certificate revoked by a configured CRL',
      cert: () => pki.revoked,
      errno: Errno.EKEYREVOKED,
      message: /server certificate for server\.example\.test has been revoked/,
      alert: /certificate revoked/,
    },
  ];

  for (const r of refusals) {
    test(`a pool client refuses ${r.what} with ${errnoName(r.errno)} and tells the server why`, async () => {
      const { server, result } = await clientTo(r.cert(), { remoteid: r.remoteid });
      const e = await rejection(result);
      assert.equal(e.errno, r.errno, e.message);
      assert.match(e.message, r.message);
      await server.waitFor(r.alert);
      const rec = pool.connections()[0]!;
      assert.equal(rec.state, 'failed');
      assert.equal(rec.error?.errno, e.code);
    });

    test(`IGNORE_REMOTEID accepts ${r.what}, reporting no remote identity`, async () => {
      const { server, result } = await clientTo(r.cert(), { remoteid: r.remoteid, flags: StartTlsFlag.IGNORE_REMOTEID });
      const ok = await result;
      assert.equal(ok.remoteid, '');
      const plain = new Plaintext(ok.fd);
      plain.write('unvalidated but encrypted\n');
      await server.waitFor('unvalidated but encrypted');
      await plain.close();
    });
  }

  for (const version of ['1.3', '1.2'] as const) {
    test(`a pool server refuses an openssl s_client without a certificate over TLS ${version} with EACCES`, async () => {
      const c = startOpensslClient({ port: listener.port, serverName: SERVER_NAME, caPath: pki.ca.certPath, version });
      peers.push(c);
      const fd = await listener.accept();
      const e = await rejection(pool.client.starttls({ role: 'server', fd, localid: SERVER_NAME }));
      fd.close();
      assert.equal(e.errno, Errno.EACCES);
      assert.match(e.message, /the client sent no certificate, and this server requires one/);
      await c.waitFor(version === '1.3' ? /alert certificate required/ : /alert handshake failure/);
    });
  }

  for (const [how, flags] of [
    ['by default', 0],
    ['with REQUEST_REMOTEID', StartTlsFlag.REQUEST_REMOTEID],
  ] as const) {
    test(`a pool server refuses a client certificate from an unknown CA ${how}, with EACCES and unknown_ca`, async () => {
      const c = startOpensslClient({
        port: listener.port,
        serverName: SERVER_NAME,
        certPath: pki.otherCaServer.chainPath,
        keyPath: pki.otherCaServer.keyPath,
        version: '1.2',
      });
      peers.push(c);
      const fd = await listener.accept();
      const e = await rejection(pool.client.starttls({ role: 'server', fd, localid: SERVER_NAME, flags }));
      fd.close();
      assert.equal(e.errno, Errno.EACCES);
      assert.match(e.message, /the client certificate for server\.example\.test is issued by an unknown CA/);
      await c.waitFor(/alert unknown ca/);
    });
  }

  test('a pool server that names the remoteid it expects refuses a client certificate for someone else with EACCES', async () => {
    const c = startOpensslClient({
      port: listener.port,
      serverName: SERVER_NAME,
      certPath: pki.client.chainPath,
      keyPath: pki.client.keyPath,
      version: '1.2',
    });
    peers.push(c);
    const fd = await listener.accept();
    const e = await rejection(pool.client.starttls({ role: 'server', fd, localid: SERVER_NAME, remoteid: 'bob@example.test' }));
    fd.close();
    assert.equal(e.errno, Errno.EACCES);
    assert.match(e.message, /the client certificate is not for bob@example\.test \(it names alice@example\.test\)/);
    await c.waitFor(/alert bad certificate/);
  });

  test('a pool server refuses gnutls-cli without a certificate with EACCES', async () => {
    const c = startGnutlsClient({ port: listener.port, serverName: SERVER_NAME, caPath: pki.ca.certPath });
    peers.push(c);
    const fd = await listener.accept();
    const e = await rejection(pool.client.starttls({ role: 'server', fd, localid: SERVER_NAME }));
    fd.close();
    assert.equal(e.errno, Errno.EACCES);
    assert.match(e.message, /the client sent no certificate, and this server requires one/);
  });

  test('a pool client that refuses every local identity proposal is refused by a pool server that requires a certificate', async () => {
    const since = pool.connections()[0]?.id ?? 0;
    const serverSide = PoolClient.connect(pool.daemon.socket);
    const clientFd = await tcpConnect(listener.port);
    const serverFd = await listener.accept();
    const proposals: string[] = [];
    const [c, s] = await Promise.allSettled([
      pool.client.starttls({
        role: 'client',
        fd: clientFd,
        remoteid: SERVER_NAME,
        onLocalId: ({ localid }) => {
          proposals.push(localid);
          return '';
        },
      }),
      serverSide.starttls({ role: 'server', fd: serverFd, localid: SERVER_NAME }),
    ]);
    clientFd.close();
    serverFd.close();
    serverSide.close();
    assert.deepEqual(proposals.sort(), [CLIENT_EMAIL, SERVER_NAME].sort());
    assert.equal(s.status, 'rejected');
    const se = (s as PromiseRejectedResult).reason;
    assert.equal(se.errno, Errno.EACCES);
    assert.match(se.message, /the client sent no certificate, and this server requires one/);
    // TLS 1.3: the client finished its handshake before the server judged it; it learns of the refusal as the
    // server's alert, which ends the plaintext stream, and the log says why.
    assert.equal(c.status, 'fulfilled');
    const cr = (c as PromiseFulfilledResult<{ fd: OwnedFd; localid: string }>).value;
    assert.equal(cr.localid, '');
    const plain = new Plaintext(cr.fd);
    await plain.untilEnd();
    plain.destroy();
    const clientRecord = await waitFor('the client connection to end', () => pool.connections().find((r) => r.id > since && r.role === 'client' && r.endedAt));
    assert.equal(clientRecord.error?.errno, 'EACCES');
    assert.match(clientRecord.error?.message ?? '', /the peer sent a fatal alert: Certificate is required/);
  });

  test('a pool client whose certificate the server refuses gets EACCES naming the alert', async () => {
    // s_server trusts only the other CA, so it refuses alice with unknown_ca; in TLS 1.2 that is still in the handshake.
    const server = await startOpensslServer({
      certPath: pki.server.chainPath,
      keyPath: pki.server.keyPath,
      caPath: pki.otherCa.certPath,
      clientCert: 'require',
      version: '1.2',
    });
    peers.push(server);
    const fd = await tcpConnect(server.port);
    const e = await rejection(pool.client.starttls({ role: 'client', fd, localid: CLIENT_EMAIL, remoteid: SERVER_NAME }));
    fd.close();
    assert.equal(e.errno, Errno.EACCES, e.message);
    assert.match(e.message, /the peer sent a fatal alert: CA is unknown/);
    assert.equal(pool.connections()[0]!.error?.errno, 'EACCES');
  });

  test('REQUIRE_DNSSEC in a pool with dns.enabled: false is refused with EOPNOTSUPP before a byte is sent', async () => {
    const noDns = await startPool({ trust: [getPki().ca], dns: { enabled: false } });
    let received = 0;
    let peerSawEnd!: () => void;
    const ended = new Promise<void>((resolve) => (peerSawEnd = resolve));
    const tcp = net.createServer((s) => {
      s.on('data', (b) => (received += b.length));
      s.on('end', () => {
        s.end();
        peerSawEnd();
      });
    });
    await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
    try {
      const fd = await tcpConnect((tcp.address() as net.AddressInfo).port);
      const e = await rejection(noDns.client.starttls({ role: 'client', fd, remoteid: SERVER_NAME, flags: StartTlsFlag.REQUIRE_DNSSEC }));
      fd.close();
      assert.equal(e.errno, Errno.EOPNOTSUPP);
      assert.match(e.message, /cannot meet REQUIRE_DNSSEC: DNSSEC validation is off/);
      await ended;
      assert.equal(received, 0);
    } finally {
      tcp.close();
      await noDns.stop();
    }
  });
});

describe('STARTTLS without a common protocol version', () => {
  let pki: TestPki;
  let pool: Pool;
  let listener: TcpListener;
  const peers: Peer[] = [];

  before(async () => {
    pki = getPki();
    pool = await startPool({
      identities: [[SERVER_NAME, pki.server]],
      trust: [pki.ca],
      tls: { priority: 'NORMAL:-VERS-ALL:+VERS-TLS1.3' },
    });
    listener = await TcpListener.open();
  });
  after(async () => {
    await Promise.all(peers.map((p) => p.stop()));
    await listener.close();
    await pool.stop();
  });

  test('a pool client held to TLS 1.3 by tls.priority gets EPROTONOSUPPORT from a TLS 1.2-only server', async () => {
    const server = await startOpensslServer({ certPath: pki.server.chainPath, keyPath: pki.server.keyPath, version: '1.2' });
    peers.push(server);
    const fd = await tcpConnect(server.port);
    const e = await rejection(pool.client.starttls({ role: 'client', fd, remoteid: SERVER_NAME }));
    fd.close();
    assert.equal(e.errno, Errno.EPROTONOSUPPORT, e.message);
    assert.match(e.message, /protocol version/i);
  });

  test('a pool server refuses a TLS 1.1 client with EPROTONOSUPPORT and a protocol_version alert', async () => {
    const c = startOpensslClient({ port: listener.port, serverName: SERVER_NAME, extraArgs: ['-tls1_1', '-cipher', 'DEFAULT@SECLEVEL=0'] });
    peers.push(c);
    const fd = await listener.accept();
    const e = await rejection(pool.client.starttls({ role: 'server', fd, localid: SERVER_NAME, flags: StartTlsFlag.IGNORE_REMOTEID }));
    fd.close();
    assert.equal(e.errno, Errno.EPROTONOSUPPORT, e.message);
    await c.waitFor(/alert protocol version/);
  });
});

describe('STARTTLS validation cache and CLI changes', () => {
  let pki: TestPki;
  let pool: Pool;
  let server: Peer;
  const peers: Peer[] = [];

  before(async () => {
    pki = getPki();
    pool = await startPool({ trust: [pki.ca] });
    server = await startOpensslServer({ certPath: pki.server.chainPath, keyPath: pki.server.keyPath });
    peers.push(server);
  });
  after(async () => {
    await Promise.all(peers.map((p) => p.stop()));
    await pool.stop();
  });

  /** STARTTLS to the long-running s_server; the plaintext side is closed at once. */
  async function connect(flags = 0): Promise<string> {
    const fd = await tcpConnect(server.port);
    try {
      const r = await pool.client.starttls({ role: 'client', fd, remoteid: SERVER_NAME, flags });
      await new Plaintext(r.fd).close();
      return r.remoteid;
    } finally {
      fd.close();
    }
  }

  test('after its CA is removed with the CLI, a validated server is accepted from the cache, but IGNORE_CACHES validates afresh and refuses', async () => {
    assert.equal(await connect(), SERVER_NAME);
    pool.cli(['trust', 'remove', pki.ca.sha256]);
    assert.equal(await connect(), SERVER_NAME, 'the cached validation is reused within validation_cache_ttl');
    const e = await rejection(connect(StartTlsFlag.IGNORE_CACHES));
    assert.equal(e.errno, Errno.EACCES);
    assert.match(e.message, /issued by an unknown CA/);
    // The fresh refusal replaces the cached success.
    const again = await rejection(connect());
    assert.equal(again.errno, Errno.EACCES);
  });

  test('the running daemon sees trust anchors added and removed with the CLI', async () => {
    const other = await startOpensslServer({ certPath: pki.serverRsa.chainPath, keyPath: pki.serverRsa.keyPath });
    peers.push(other);
    const attempt = async () => {
      const fd = await tcpConnect(other.port);
      try {
        const r = await pool.client.starttls({ role: 'client', fd, remoteid: SERVER_NAME });
        await new Plaintext(r.fd).close();
        return r.remoteid;
      } finally {
        fd.close();
      }
    };
    assert.equal((await rejection(attempt())).errno, Errno.EACCES);
    pool.cli(['trust', 'add', pki.ca.certPath]);
    assert.equal(await attempt(), SERVER_NAME);
  });

  test('the running daemon sees a local identity added with the CLI', async () => {
    const listener = await TcpListener.open();
    try {
      const tryServe = async () => {
        const c = startOpensslClient({ port: listener.port, serverName: 'www.example.test' });
        peers.push(c);
        const fd = await listener.accept();
        try {
          const r = await pool.client.starttls({ role: 'server', fd, localid: 'www.example.test', flags: StartTlsFlag.IGNORE_REMOTEID });
          await new Plaintext(r.fd).close();
          return r.localid;
        } finally {
          fd.close();
          await c.stop();
        }
      };
      const e = await rejection(tryServe());
      assert.equal(e.errno, Errno.ENOKEY);
      assert.match(e.message, /no local identity www\.example\.test/);
      pool.cli(['identity', 'add', 'www.example.test', '--cert', pki.server2.chainPath, '--key', pki.server2.keyPath]);
      assert.equal(await tryServe(), 'www.example.test');
    } finally {
      await listener.close();
    }
  });

  test('a STARTTLS refused before any TLS starts has its record and its log line', async () => {
    const since = pool.connections()[0]?.id ?? 0;
    const server = await startOpensslServer({ certPath: pki.server.chainPath, keyPath: pki.server.keyPath });
    peers.push(server);
    const refused: Array<[what: string, opts: { localid?: string; remoteid?: string }, errno: number]> = [
      ['a remoteid that is not a name', { remoteid: 'not a name!' }, Errno.EINVAL],
      ['an unknown local identity', { localid: 'nobody.example.test' }, Errno.ENOKEY],
    ];
    for (const [what, opts, errno] of refused) {
      const fd = await tcpConnect(server.port);
      const e = await rejection(pool.client.starttls({ role: 'client', fd, remoteid: SERVER_NAME, ...opts }));
      fd.close();
      assert.equal(e.errno, errno, what);
      const record = await waitFor(`the record of ${what}`, () => pool.connections().find((r) => r.id > since && r.error?.message === e.message));
      assert.equal(record.state, 'failed', what);
      assert.equal(record.endReason, 'refused', what);
      assert.equal(record.error?.errno, errnoName(errno), what);
      const line = pool.daemon
        .logs()
        .split('\n')
        .find((l) => l.includes('"STARTTLS failed"') && l.includes(`"connection":${record.id},`));
      assert.ok(line, `a log line for ${what} (connection ${record.id})`);
    }
  });

  test('serving our own expired certificate: a warning in the log, and the peer\'s refusal said as such (TLS 1.3 and 1.2)', async () => {
    const expiredPool = await startPool({ identities: [[SERVER_NAME, pki.expired]], trust: [pki.ca] });
    const tcp = await TcpListener.open();
    try {
      for (const version of ['1.3', '1.2'] as const) {
        const c = startOpensslClient({ port: tcp.port, serverName: SERVER_NAME, caPath: pki.ca.certPath, version });
        peers.push(c);
        const fd = await tcp.accept();
        const e = await rejection(expiredPool.client.starttls({ role: 'server', fd, localid: SERVER_NAME, flags: StartTlsFlag.IGNORE_REMOTEID }));
        fd.close();
        assert.equal(e.errno, Errno.EKEYEXPIRED, `${version}: ${e.message}`);
        assert.equal(e.message, `the peer refused our certificate for ${SERVER_NAME} (expired on 2001-01-01); renew it`);
      }
      assert.match(expiredPool.daemon.logs(), /"msg":"showing a certificate peers will refuse".*"reason":"expired on 2001-01-01"/);
    } finally {
      await tcp.close();
      await expiredPool.stop();
    }
  });
});
