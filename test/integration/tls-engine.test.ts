/**
 * The TLS engine against real peers: openssl s_server/s_client, gnutls-serv
 * and gnutls-cli, and itself over loopback. Timeouts here are hang guards
 * only; nothing asserts on timing.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';

import { certInfo, verifyChain, createTrustStore } from '../../src/addon/tls/certs';
import { loadCredentials } from '../../src/addon/tls/credentials';
import { startSession } from '../../src/addon/tls/session';
import { tlsCloseFd } from '../../harness/native-fd';
import { TlsError } from '../../src/addon/tls/failure';
import type { VerifyContext, VerifyResult } from '../../src/addon/tls/options';
import { Errno } from '../../src/protocol/errno';
import { CLIENT_EMAIL, SERVER_NAME, getPki, type Cert } from '../../harness/pki';
import {
  startGnutlsClient,
  startGnutlsServer,
  startOpensslClient,
  startOpensslServer,
} from '../../harness/peers';
import {
  fdCount,
  fdList,
  tcpConnect,
  FdListener,
  tcpPair,
  udpPair,
  udpConnect,
  plain,
  readAll,
  readBytes,
  endWatcher,
  loaded,
  creds,
  caPolicy,
  clientOptions,
  serverOptions,
  start,
  withPeer,
  recvDatagram,
} from '../../harness/engine';

const GUARD = { timeout: 60_000 };
const pki = getPki();

let fdsAtStart = 0;
before(() => {
  // Warm up what opens descriptors once per process: the addon, the PKI, and
  // GnuTLS's PKCS #11 subsystem (p11-kit loads its modules on first use).
  creds(pki.server);
  try {
    loadCredentials(pki.server.chainPem, { uri: 'pkcs11:token=warm-up;object=x;type=private' });
  } catch {
    /* no such token: only the loading mattered */
  }
  fdsAtStart = fdCount();
});

after(() => {
  for (const c of loaded.values()) c.close();
});

describe('pool client against real servers', () => {
  for (const version of ['1.3', '1.2'] as const) {
    it(`openssl s_server -tls1_${version === '1.3' ? '3' : '2'}: handshake, verify, data both ways`, GUARD, async () => {
      await withPeer(
        await startOpensslServer({ certPath: pki.server.certPath, keyPath: pki.server.keyPath, version, rev: true }),
        async (srv) => {
          const policy = caPolicy('server', { hostname: SERVER_NAME });
          const end = endWatcher();
          const est = await start(clientOptions(await tcpConnect(srv.port), { verifyPeer: policy.verify }), end.onEnd);
          assert.equal(est.version, `TLS${version}`);
          assert.match(est.cipher, /^TLS_/);
          assert.equal(est.serverName, SERVER_NAME);
          assert.equal(policy.seen.length, 1);
          assert.equal(policy.seen[0]!.chainDer.length, 1);
          assert.deepEqual(policy.seen[0]!.chainDer[0], pki.server.der);
          assert.deepEqual(est.peerChainDer[0], pki.server.der);

          const app = plain(est);
          app.write('hello world\nsecond line\n');
          const back = await readBytes(app, 'dlrow olleh\nenil dnoces\n'.length);
          assert.equal(back.toString(), 'dlrow olleh\nenil dnoces\n');
          assert.deepEqual(est.session.stats(), { bytesIn: back.length, bytesOut: back.length });
          app.end();
          app.resume();
          const e = await end.ended;
          assert.ok(e.reason === 'closed' || e.reason === 'peer-closed', JSON.stringify(e));
          assert.equal(e.bytesOut, 24);
          app.destroy();
          assert.match(srv.output(), new RegExp(`Protocol version: TLSv${version}`));
        },
      );
    });
  }

  it('gnutls-serv (echo), TLS 1.3 with ECDSA', GUARD, async () => {
    await withPeer(await startGnutlsServer({ certPath: pki.server.certPath, keyPath: pki.server.keyPath }), async (srv) => {
      const end = endWatcher();
      const est = await start(clientOptions(await tcpConnect(srv.port)), end.onEnd);
      assert.equal(est.version, 'TLS1.3');
      const app = plain(est);
      app.end('echo me\n');
      assert.equal((await readAll(app)).toString(), 'echo me\n');
      const e = await end.ended;
      assert.equal(e.reason, 'closed');
      assert.deepEqual([e.bytesIn, e.bytesOut], [8, 8]);
      app.destroy();
      await srv.waitFor('Given server name[1]: server.example.test');
    });
  });

  it('gnutls-serv with an RSA certificate, TLS 1.2 forced by our priority', GUARD, async () => {
    await withPeer(await startGnutlsServer({ certPath: pki.serverRsa.certPath, keyPath: pki.serverRsa.keyPath }), async (srv) => {
      const end = endWatcher();
      const est = await start(
        clientOptions(await tcpConnect(srv.port), {
          priority: 'SECURE128:-VERS-ALL:+VERS-TLS1.2:-KX-ALL:+ECDHE-RSA:-CIPHER-ALL:+AES-128-GCM',
        }),
        end.onEnd,
      );
      assert.equal(est.version, 'TLS1.2');
      assert.equal(est.cipher, 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256');
      const app = plain(est);
      app.end('rsa\n');
      assert.equal((await readAll(app)).toString(), 'rsa\n');
      assert.equal((await end.ended).reason, 'closed');
      app.destroy();
    });
  });

  it('presents a client certificate to openssl s_server -Verify 1, which reports the client', GUARD, async () => {
    await withPeer(
      await startOpensslServer({
        certPath: pki.server.certPath,
        keyPath: pki.server.keyPath,
        caPath: pki.ca.certPath,
        clientCert: 'require',
        rev: true,
      }),
      async (srv) => {
        const asked: { role: string; acceptedIssuers: string[] }[] = [];
        const end = endWatcher();
        const est = await start(
          clientOptions(await tcpConnect(srv.port), {
            credentials: (ctx) => {
              asked.push(ctx);
              return creds(pki.client);
            },
          }),
          end.onEnd,
        );
        assert.equal(asked.length, 1);
        assert.equal(asked[0]!.role, 'client');
        assert.ok(asked[0]!.acceptedIssuers.some((dn) => dn.includes('TLS Pool Test CA')), asked[0]!.acceptedIssuers.join('|'));
        const app = plain(est);
        app.write('abc\n');
        assert.equal((await readBytes(app, 4)).toString(), 'cba\n');
        app.end();
        app.resume();
        await end.ended;
        app.destroy();
        const out = await srv.waitFor(/CN ?= ?alice/);
        assert.match(out, /verify return:1/);
      },
    );
  });

  it('without a client certificate, openssl s_server -Verify 1 (TLS 1.2) fails the handshake', GUARD, async () => {
    await withPeer(
      await startOpensslServer({
        certPath: pki.server.certPath,
        keyPath: pki.server.keyPath,
        caPath: pki.ca.certPath,
        clientCert: 'require',
        version: '1.2',
      }),
      async (srv) => {
        const err = await start(clientOptions(await tcpConnect(srv.port)), () => assert.fail('no onEnd for a failed handshake')).then(
          () => assert.fail('the handshake should fail'),
          (e: unknown) => e,
        );
        assert.ok(err instanceof TlsError, String(err));
        assert.equal(err.kind, 'alert');
        assert.equal(err.gnutls, 'GNUTLS_E_FATAL_ALERT_RECEIVED');
        assert.equal(err.alert, 'handshake_failure');
        assert.equal(err.code, 'EACCES'); // asked for a certificate, had none
        await srv.waitFor(/peer did not return a certificate|PEER_DID_NOT_RETURN_A_CERTIFICATE/i);
      },
    );
  });

  it('verifyPeer rejecting fails the handshake and openssl s_server sees the alert', GUARD, async () => {
    await withPeer(
      await startOpensslServer({ certPath: pki.selfSigned.certPath, keyPath: pki.selfSigned.keyPath }),
      async (srv) => {
        const policy = caPolicy('server', { hostname: SERVER_NAME });
        const err = await start(
          clientOptions(await tcpConnect(srv.port), {
            verifyPeer: (ctx) => {
              const r = policy.verify(ctx);
              return r.ok ? r : { ...r, alert: 'unknown_ca' };
            },
          }),
          () => assert.fail('no onEnd'),
        ).then(
          () => assert.fail('the handshake should fail'),
          (e: unknown) => e,
        );
        assert.ok(err instanceof TlsError);
        assert.equal(err.code, 'EACCES');
        assert.equal(err.errno, Errno.EACCES);
        assert.equal(err.kind, 'policy');
        assert.match(err.message, /signer|issuer|not trusted/i);
        await srv.waitFor(/alert unknown ca|alert number 48/i);
      },
    );
  });
});

describe('real clients against the pool server', () => {
  it('openssl s_client: SNI reaches credentials(), the chain verifies, data both ways, clean close', GUARD, async () => {
    const l = await new FdListener().listen();
    const client = startOpensslClient({ port: l.port, serverName: SERVER_NAME, caPath: pki.ca.certPath });
    await withPeer(client, async () => {
      const asked: string[] = [];
      const end = endWatcher();
      const est = await start(
        serverOptions(await l.accept(), {
          credentials: (ctx) => {
            asked.push(`${ctx.role}:${ctx.serverName}`);
            return creds(pki.server);
          },
        }),
        end.onEnd,
      );
      await l.close();
      assert.deepEqual(asked, [`server:${SERVER_NAME}`]);
      assert.equal(est.serverName, SERVER_NAME);
      assert.equal(est.version, 'TLS1.3');
      assert.deepEqual(est.peerChainDer, []);
      const app = plain(est);
      client.write('ping from openssl\n');
      assert.equal((await readBytes(app, 18)).toString(), 'ping from openssl\n');
      app.end('pong from the pool\n');
      await client.waitFor('pong from the pool');
      await client.waitFor(/Verify return code: 0 \(ok\)/);
      client.endInput();
      app.resume();
      const e = await end.ended;
      assert.ok(['closed', 'peer-closed'].includes(e.reason), JSON.stringify(e));
      app.destroy();
    });
  });

  it('gnutls-cli: verifies the pool server by CA and hostname, data both ways', GUARD, async () => {
    const l = await new FdListener().listen();
    const client = startGnutlsClient({ port: l.port, serverName: SERVER_NAME, caPath: pki.ca.certPath });
    await withPeer(client, async () => {
      const end = endWatcher();
      const est = await start(serverOptions(await l.accept()), end.onEnd);
      await l.close();
      await client.waitFor('- Handshake was completed');
      const app = plain(est);
      client.write('hi from gnutls-cli\n');
      assert.equal((await readBytes(app, 19)).toString(), 'hi from gnutls-cli\n');
      app.write('hi from the pool\n');
      await client.waitFor('hi from the pool');
      client.endInput(); // gnutls-cli sends close_notify on EOF
      assert.equal((await readAll(app)).length, 0);
      app.end();
      const e = await end.ended;
      assert.equal(e.reason, 'peer-closed');
      assert.equal(e.errno, undefined);
      app.destroy();
    });
  });

  it("certRequest 'require' and openssl s_client without a certificate: EACCES, and the client sees the alert", GUARD, async () => {
    const l = await new FdListener().listen();
    const client = startOpensslClient({ port: l.port, serverName: SERVER_NAME, caPath: pki.ca.certPath });
    await withPeer(client, async () => {
      const verified: VerifyContext[] = [];
      const err = await start(
        serverOptions(await l.accept(), {
          certRequest: 'require',
          verifyPeer: (ctx) => {
            verified.push(ctx);
            return { ok: true };
          },
        }),
        () => assert.fail('no onEnd'),
      ).then(
        () => assert.fail('the handshake should fail'),
        (e: unknown) => e,
      );
      await l.close();
      assert.ok(err instanceof TlsError);
      assert.equal(err.code, 'EACCES');
      assert.equal(err.gnutls, 'GNUTLS_E_CERTIFICATE_REQUIRED');
      await client.waitFor(/certificate required|alert number 116/i);
    });
  });

  it("certRequest 'require': openssl s_client with alice's certificate is accepted by policy", GUARD, async () => {
    const l = await new FdListener().listen();
    const client = startOpensslClient({
      port: l.port,
      serverName: SERVER_NAME,
      caPath: pki.ca.certPath,
      certPath: pki.client.certPath,
      keyPath: pki.client.keyPath,
    });
    await withPeer(client, async () => {
      const policy = caPolicy('client', { email: CLIENT_EMAIL });
      const end = endWatcher();
      const est = await start(serverOptions(await l.accept(), { certRequest: 'require', verifyPeer: policy.verify }), end.onEnd);
      await l.close();
      assert.equal(policy.seen.length, 1);
      assert.deepEqual(est.peerChainDer[0], pki.client.der);
      const app = plain(est);
      app.end('welcome alice\n');
      await client.waitFor('welcome alice');
      client.endInput();
      app.resume();
      await end.ended;
      app.destroy();
    });
  });
});

describe('pool against pool', () => {
  it('TLS 1.3 over TCP loopback with SNI, client certificate and data both ways', GUARD, async () => {
    const { clientFd, serverFd } = await tcpPair();
    const serverPolicy = caPolicy('client', { email: CLIENT_EMAIL });
    const clientPolicy = caPolicy('server', { hostname: SERVER_NAME });
    const sEnd = endWatcher();
    const cEnd = endWatcher();
    const [s, c] = await Promise.all([
      start(serverOptions(serverFd, { certRequest: 'require', verifyPeer: serverPolicy.verify }), sEnd.onEnd),
      start(clientOptions(clientFd, { verifyPeer: clientPolicy.verify, credentials: () => creds(pki.client) }), cEnd.onEnd),
    ]);
    assert.equal(s.version, 'TLS1.3');
    assert.equal(c.version, 'TLS1.3');
    assert.equal(s.cipher, c.cipher);
    assert.equal(s.serverName, SERVER_NAME);
    assert.deepEqual(s.peerChainDer[0], pki.client.der);
    assert.deepEqual(c.peerChainDer[0], pki.server.der);
    const [sApp, cApp] = [plain(s), plain(c)];
    cApp.write('to server');
    assert.equal((await readBytes(sApp, 9)).toString(), 'to server');
    sApp.write('to client');
    assert.equal((await readBytes(cApp, 9)).toString(), 'to client');
    cApp.end();
    sApp.resume();
    await new Promise((r) => sApp.once('end', r));
    sApp.end();
    cApp.resume();
    const [se, ce] = await Promise.all([sEnd.ended, cEnd.ended]);
    assert.equal(ce.reason, 'closed');
    assert.equal(se.reason, 'peer-closed');
    assert.deepEqual([ce.bytesOut, ce.bytesIn, se.bytesIn, se.bytesOut], [9, 9, 9, 9]);
    sApp.destroy();
    cApp.destroy();
  });

  it('relays 50 MiB intact, and a half-close still lets the answer through', GUARD, async () => {
    const { clientFd, serverFd } = await tcpPair();
    const sEnd = endWatcher();
    const cEnd = endWatcher();
    const [s, c] = await Promise.all([start(serverOptions(serverFd), sEnd.onEnd), start(clientOptions(clientFd), cEnd.onEnd)]);
    const [sApp, cApp] = [plain(s), plain(c)];
    const total = 50 * 1024 * 1024;

    // Server application: hash everything until EOF, then answer with the hash and close.
    const serverSide = (async () => {
      const h = crypto.createHash('sha256');
      let n = 0;
      sApp.on('data', (d: Buffer) => {
        h.update(d);
        n += d.length;
      });
      await new Promise((r) => sApp.once('end', r));
      sApp.end(`${n} ${h.digest('hex')}`);
    })();

    // Client application: send 50 MiB of pseudo-random data, shut down writing, read the answer.
    const sent = crypto.createHash('sha256');
    const block = crypto.randomBytes(1024 * 1024);
    const answer = readAll(cApp);
    for (let i = 0; i < 50; i++) {
      block.writeUInt32BE(i, 0);
      sent.update(block);
      if (!cApp.write(Buffer.from(block))) await new Promise((r) => cApp.once('drain', r));
    }
    cApp.end();
    await serverSide;
    assert.equal((await answer).toString(), `${total} ${sent.digest('hex')}`);
    const [se, ce] = await Promise.all([sEnd.ended, cEnd.ended]);
    assert.equal(ce.reason, 'closed');
    assert.equal(se.reason, 'peer-closed');
    assert.equal(ce.bytesOut, total);
    assert.equal(se.bytesIn, total);
    assert.equal(se.bytesOut, ce.bytesIn);
    sApp.destroy();
    cApp.destroy();
  });

  it('anonymous (DH-anon, TLS 1.2): verifyPeer sees an empty chain', GUARD, async () => {
    const { clientFd, serverFd } = await tcpPair();
    const seen: VerifyContext[] = [];
    const verifyPeer = (ctx: VerifyContext): VerifyResult => {
      seen.push(ctx);
      return { ok: true };
    };
    let credentialCalls = 0;
    const sEnd = endWatcher();
    const cEnd = endWatcher();
    const [s, c] = await Promise.all([
      start(
        serverOptions(serverFd, {
          anonymous: true,
          credentials: () => {
            credentialCalls++; // GnuTLS asks again for every certificate suite; JavaScript is asked once
            return null;
          },
          verifyPeer,
        }),
        sEnd.onEnd,
      ),
      start(clientOptions(clientFd, { anonymous: true, verifyPeer }), cEnd.onEnd),
    ]);
    assert.equal(credentialCalls, 1);
    assert.equal(c.version, 'TLS1.2');
    assert.match(c.cipher, /^TLS_DH_anon_/);
    assert.deepEqual(c.peerChainDer, []);
    assert.equal(seen.length, 2);
    assert.ok(seen.every((v) => v.chainDer.length === 0));
    const [sApp, cApp] = [plain(s), plain(c)];
    cApp.end('anon');
    assert.equal((await readAll(sApp)).toString(), 'anon');
    sApp.end();
    await Promise.all([sEnd.ended, cEnd.ended, readAll(cApp)]);
    sApp.destroy();
    cApp.destroy();
  });

  it('no SNI and no certificate request: credentials() sees no name, verifyPeer still runs once per side', GUARD, async () => {
    const { clientFd, serverFd } = await tcpPair();
    const names: (string | undefined)[] = [];
    const serverSeen: VerifyContext[] = [];
    const clientPolicy = caPolicy('server', { hostname: SERVER_NAME });
    const sEnd = endWatcher();
    const cEnd = endWatcher();
    const opts = clientOptions(clientFd, { verifyPeer: clientPolicy.verify });
    delete opts.serverName;
    const [s, c] = await Promise.all([
      start(
        serverOptions(serverFd, {
          credentials: (ctx) => {
            names.push(ctx.serverName);
            return creds(pki.server);
          },
          verifyPeer: (ctx) => {
            serverSeen.push(ctx);
            return { ok: true };
          },
        }),
        sEnd.onEnd,
      ),
      start(opts, cEnd.onEnd),
    ]);
    assert.deepEqual(names, [undefined]);
    assert.equal(s.serverName, undefined);
    assert.equal(c.serverName, undefined);
    assert.equal(serverSeen.length, 1);
    assert.deepEqual(serverSeen[0]!.chainDer, []);
    assert.equal(clientPolicy.seen.length, 1);
    const [sApp, cApp] = [plain(s), plain(c)];
    const sRead = readAll(sApp);
    cApp.end();
    await sRead;
    sApp.end();
    await Promise.all([readAll(cApp), sEnd.ended, cEnd.ended]);
    sApp.destroy();
    cApp.destroy();
  });

  it('the client rejecting the server: both sides fail, the server with the alert chosen by policy', GUARD, async () => {
    const { clientFd, serverFd } = await tcpPair();
    const [sr, cr] = await Promise.allSettled([
      start(serverOptions(serverFd), () => assert.fail('no onEnd')),
      start(
        clientOptions(clientFd, {
          verifyPeer: () => ({ ok: false, errno: Errno.EPERM, message: 'not today', alert: 'access_denied' }),
        }),
        () => assert.fail('no onEnd'),
      ),
    ]);
    assert.equal(cr.status, 'rejected');
    assert.equal(sr.status, 'rejected');
    const ce = (cr as PromiseRejectedResult).reason as TlsError;
    const se = (sr as PromiseRejectedResult).reason as TlsError;
    assert.equal(ce.code, 'EPERM');
    assert.match(ce.message, /not today/);
    assert.equal(se.kind, 'alert');
    assert.equal(se.alert, 'access_denied');
    assert.equal(se.code, 'EACCES');
  });

  it('the server rejecting the client (TLS 1.2): both sides fail', GUARD, async () => {
    const { clientFd, serverFd } = await tcpPair();
    const [sr, cr] = await Promise.allSettled([
      start(
        serverOptions(serverFd, {
          certRequest: 'request',
          verifyPeer: (ctx) => ({ ok: false, errno: Errno.EACCES, message: `rejected ${ctx.chainDer.length} certificates` }),
        }),
        () => assert.fail('no onEnd'),
      ),
      start(
        clientOptions(clientFd, {
          priority: 'SECURE128:-VERS-ALL:+VERS-TLS1.2',
          credentials: () => creds(pki.client),
        }),
        () => assert.fail('no onEnd'),
      ),
    ]);
    const se = (sr as PromiseRejectedResult).reason as TlsError;
    const ce = (cr as PromiseRejectedResult).reason as TlsError;
    assert.equal(se.code, 'EACCES');
    assert.match(se.message, /rejected 1 certificates/);
    assert.equal(ce.alert, 'bad_certificate');
    assert.equal(ce.code, 'EACCES');
  });

  it('the server rejecting the client (TLS 1.3): the client learns it on its first read', GUARD, async () => {
    const { clientFd, serverFd } = await tcpPair();
    const cEnd = endWatcher();
    const [sr, cr] = await Promise.allSettled([
      start(
        serverOptions(serverFd, { certRequest: 'require', verifyPeer: () => ({ ok: false, errno: Errno.EACCES, message: 'no' }) }),
        () => assert.fail('no onEnd'),
      ),
      start(clientOptions(clientFd, { credentials: () => creds(pki.client) }), cEnd.onEnd),
    ]);
    assert.equal(sr.status, 'rejected');
    assert.equal(((sr as PromiseRejectedResult).reason as TlsError).code, 'EACCES');
    if (cr.status === 'fulfilled') {
      const app = plain(cr.value);
      app.resume();
      const e = await cEnd.ended;
      assert.equal(e.reason, 'error');
      assert.equal(e.code, 'EACCES');
      assert.equal(e.alert, 'bad_certificate');
      app.destroy();
    } else {
      assert.equal(((cr as PromiseRejectedResult).reason as TlsError).code, 'EACCES');
    }
  });

  it("the server's credentials callback failing: its errno, and an alert for the client", GUARD, async () => {
    const { clientFd, serverFd } = await tcpPair();
    const [sr, cr] = await Promise.allSettled([
      start(
        serverOptions(serverFd, {
          credentials: async () => {
            throw Object.assign(new Error('no identity for that name'), { code: 'ENOENT' });
          },
        }),
        () => assert.fail('no onEnd'),
      ),
      start(clientOptions(clientFd), () => assert.fail('no onEnd')),
    ]);
    const se = (sr as PromiseRejectedResult).reason as TlsError;
    assert.equal(se.code, 'ENOENT');
    assert.equal(se.kind, 'credentials');
    assert.match(se.message, /no identity/);
    const ce = (cr as PromiseRejectedResult).reason as TlsError;
    assert.equal(ce.kind, 'alert');
  });

  it('a server without credentials for the name: ENOKEY', GUARD, async () => {
    const { clientFd, serverFd } = await tcpPair();
    const [sr, cr] = await Promise.allSettled([
      start(serverOptions(serverFd), () => assert.fail('no onEnd')),
      start(clientOptions(clientFd, { serverName: 'unknown.example.test' }), () => assert.fail('no onEnd')),
    ]);
    assert.equal(((sr as PromiseRejectedResult).reason as TlsError).code, 'ENOKEY');
    assert.equal(cr.status, 'rejected');
  });
});

describe('DTLS 1.2', () => {
  it('pool client against gnutls-serv --udp (echo): one datagram there and back', GUARD, async () => {
    await withPeer(
      await startGnutlsServer({ certPath: pki.server.certPath, keyPath: pki.server.keyPath, udp: true }),
      async (srv) => {
        const end = endWatcher();
        const est = await start(clientOptions(await udpConnect(srv.port), { transport: 'dtls' }), end.onEnd);
        assert.equal(est.version, 'DTLS1.2');
        assert.ok(est.mtu && est.mtu > 1000, String(est.mtu));
        fs.writeSync(est.plaintextFd, Buffer.from('datagram one'));
        assert.equal(recvDatagram(est.plaintextFd).toString(), 'datagram one');
        fs.writeSync(est.plaintextFd, Buffer.from('datagram two'));
        assert.equal(recvDatagram(est.plaintextFd).toString(), 'datagram two');
        tlsCloseFd(est.plaintextFd);
        const e = await end.ended;
        assert.equal(e.reason, 'closed');
        assert.deepEqual([e.bytesIn, e.bytesOut], [24, 24]);
      },
    );
  });

  it('pool client against openssl s_server -dtls1_2: datagrams both ways', GUARD, async () => {
    await withPeer(
      await startOpensslServer({ certPath: pki.server.certPath, keyPath: pki.server.keyPath, dtls: true }),
      async (srv) => {
        const end = endWatcher();
        const est = await start(clientOptions(await udpConnect(srv.port), { transport: 'dtls' }), end.onEnd);
        assert.equal(est.version, 'DTLS1.2');
        await srv.waitFor('CIPHER is');
        fs.writeSync(est.plaintextFd, Buffer.from('from the pool\n'));
        await srv.waitFor('from the pool');
        srv.write('from openssl\n');
        assert.equal(recvDatagram(est.plaintextFd).toString(), 'from openssl\n');
        tlsCloseFd(est.plaintextFd);
        assert.equal((await end.ended).reason, 'closed');
        await srv.waitFor(/DONE|shutting down SSL|CONNECTION CLOSED/);
      },
    );
  });

  it('pool against pool over connected UDP sockets, datagrams kept whole', GUARD, async () => {
    const { aFd, bFd } = await udpPair();
    const sEnd = endWatcher();
    const cEnd = endWatcher();
    const [s, c] = await Promise.all([
      start(serverOptions(aFd, { transport: 'dtls' }), sEnd.onEnd),
      start(clientOptions(bFd, { transport: 'dtls' }), cEnd.onEnd),
    ]);
    assert.equal(s.version, 'DTLS1.2');
    for (const msg of ['a', 'bb', 'ccc']) fs.writeSync(c.plaintextFd, Buffer.from(msg));
    assert.deepEqual(
      [recvDatagram(s.plaintextFd), recvDatagram(s.plaintextFd), recvDatagram(s.plaintextFd)].map(String),
      ['a', 'bb', 'ccc'],
    );
    const big = crypto.randomBytes(1000);
    fs.writeSync(s.plaintextFd, big);
    assert.deepEqual(recvDatagram(c.plaintextFd), big);
    tlsCloseFd(c.plaintextFd); // client sends close_notify
    assert.equal(recvDatagram(s.plaintextFd).length, 0); // server's application sees EOF
    tlsCloseFd(s.plaintextFd);
    const [se, ce] = await Promise.all([sEnd.ended, cEnd.ended]);
    assert.equal(ce.reason, 'closed');
    assert.equal(se.reason, 'peer-closed');
  });

  it('to a UDP port where nobody listens: ECONNREFUSED', GUARD, async () => {
    const { aFd, bFd } = await udpPair();
    tlsCloseFd(bFd); // the peer's port is closed now
    const err = await start(clientOptions(aFd, { transport: 'dtls' }), () => assert.fail('no onEnd')).then(
      () => assert.fail('the handshake should fail'),
      (e: unknown) => e as TlsError,
    );
    assert.equal(err.code, 'ECONNREFUSED');
  });
});

describe('failures without hangs', () => {
  it('a server that vanishes mid-handshake: ECONNRESET', GUARD, async () => {
    const server = net.createServer((sock) => {
      sock.once('data', () => sock.destroy()); // read the ClientHello, then go
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const err = await start(clientOptions(await tcpConnect(port)), () => assert.fail('no onEnd')).then(
      () => assert.fail('the handshake should fail'),
      (e: unknown) => e as TlsError,
    );
    await new Promise<void>((r) => server.close(() => r()));
    assert.equal(err.code, 'ECONNRESET');
    assert.equal(err.kind, 'transport');
  });

  it('a client that vanishes mid-handshake: ECONNRESET on the pool server', GUARD, async () => {
    const l = await new FdListener().listen();
    const sock = net.connect(l.port, '127.0.0.1');
    sock.on('error', () => {});
    sock.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x10, 0x01])); // the start of a ClientHello
    const fd = await l.accept();
    await l.close();
    const p = start(serverOptions(fd), () => assert.fail('no onEnd'));
    sock.destroy();
    const err = await p.then(
      () => assert.fail('the handshake should fail'),
      (e: unknown) => e as TlsError,
    );
    assert.equal(err.code, 'ECONNRESET');
  });

  it('a silent server and a small handshake budget: ETIMEDOUT', GUARD, async () => {
    const l = await new FdListener().listen(); // accepts, never answers
    const fd = await tcpConnect(l.port);
    const err = await start(clientOptions(fd, { handshakeTimeoutMs: 200 }), () => assert.fail('no onEnd')).then(
      () => assert.fail('the handshake should fail'),
      (e: unknown) => e as TlsError,
    );
    await l.close();
    assert.equal(err.code, 'ETIMEDOUT');
  });

  it('abort while verifyPeer is pending (it never answers): ECANCELED', GUARD, async () => {
    const { clientFd, serverFd } = await tcpPair();
    const ac = new AbortController();
    let asked!: () => void;
    const wasAsked = new Promise<void>((r) => (asked = r));
    const sp = start(serverOptions(serverFd), () => assert.fail('no onEnd')).then(
      () => assert.fail('the server handshake should fail'),
      (e: unknown) => e as TlsError,
    );
    const cp = start(
      clientOptions(clientFd, {
        signal: ac.signal,
        verifyPeer: () => {
          asked();
          return new Promise<VerifyResult>(() => {}); // a person who never decides
        },
      }),
      () => assert.fail('no onEnd'),
    );
    await wasAsked;
    ac.abort();
    const err = await cp.then(
      () => assert.fail('the handshake should fail'),
      (e: unknown) => e as TlsError,
    );
    assert.equal(err.code, 'ECANCELED');
    const serr = await sp;
    assert.ok(['ECONNRESET', 'EPROTO'].includes(serr.code), serr.code);
  });

  it('a worker torn down while its session waits for verifyPeer: no hang, the peer fails', GUARD, async () => {
    const { clientFd, serverFd } = await tcpPair();
    const sp = start(serverOptions(serverFd), () => assert.fail('no onEnd')).then(
      () => assert.fail('the server handshake should fail'),
      (e: unknown) => e as TlsError,
    );
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      const tls = require(workerData.session);
      const fds = require(workerData.fds);
      tls.startSession({
        fd: workerData.fd, role: 'client', serverName: workerData.name, credentials: () => null,
        verifyPeer: () => { parentPort.postMessage('asked'); return new Promise(() => {}); },
      }, () => {}).catch(() => {});
      fds.tlsCloseFd(workerData.fd);
    `;
    const worker = new Worker(code, {
      eval: true,
      workerData: { fd: clientFd, name: SERVER_NAME, session: require.resolve('../../src/addon/tls/session'), fds: require.resolve('../../harness/native-fd') },
    });
    assert.equal((await once(worker, 'message'))[0], 'asked');
    await worker.terminate(); // the environment's teardown aborts the session and waits for its thread
    const serr = await sp;
    assert.ok(['ECONNRESET', 'EPROTO'].includes(serr.code), serr.code);
  });

  it('session.abort() on an established session ends it with reason aborted', GUARD, async () => {
    const { clientFd, serverFd } = await tcpPair();
    const sEnd = endWatcher();
    const cEnd = endWatcher();
    const [s, c] = await Promise.all([start(serverOptions(serverFd), sEnd.onEnd), start(clientOptions(clientFd), cEnd.onEnd)]);
    const [sApp, cApp] = [plain(s), plain(c)];
    const [cRead, sRead] = [readAll(cApp), readAll(sApp)];
    c.session.abort();
    c.session.abort();
    assert.equal((await cEnd.ended).reason, 'aborted');
    // Our application sees EOF; the peer sees close_notify.
    assert.equal((await cRead).length, 0);
    assert.equal((await sRead).length, 0);
    sApp.end();
    assert.equal((await sEnd.ended).reason, 'peer-closed');
    assert.equal(cEnd.count(), 1);
    sApp.destroy();
    cApp.destroy();
  });

  it('rejects bad options synchronously-ish: not a socket, wrong socket type, bad priority', async () => {
    const file = fs.openSync('/proc/self/stat', 'r');
    await assert.rejects(startSession(clientOptions(file), () => {}), { code: 'ENOTSOCK', errno: Errno.ENOTSOCK });
    await assert.rejects(startSession(clientOptions(-1), () => {}), { code: 'EBADF' });
    await assert.rejects(startSession({ ...clientOptions(file), role: 'both' as 'client' }, () => {}), TypeError);
    fs.closeSync(file);
    const { aFd, bFd } = await udpPair();
    await assert.rejects(startSession(clientOptions(aFd), () => {}), { code: 'EPROTOTYPE' });
    await assert.rejects(startSession(clientOptions(aFd, { transport: 'dtls', priority: 'NO-SUCH-THING' }), () => {}), {
      code: 'EINVAL',
    });
    tlsCloseFd(aFd);
    tlsCloseFd(bFd);
  });
});

describe('credentials', () => {
  it('loads a chain and key, exposes the chain, and closes', () => {
    const c = loadCredentials(pki.server.chainPem, { pem: pki.server.keyPem });
    assert.equal(c.closed, false);
    assert.deepEqual(c.chainDer, [pki.server.der]);
    c.close();
    c.close();
    assert.equal(c.closed, true);
    assert.deepEqual(c.chainDer, []);
  });

  it('refuses a key that is not the leaf’s, and garbage', () => {
    assert.throws(() => loadCredentials(pki.server.chainPem, { pem: pki.client.keyPem }), { code: 'EINVAL', message: /does not belong/ });
    assert.throws(() => loadCredentials('nonsense', { pem: pki.server.keyPem }), { code: 'EINVAL' });
    assert.throws(() => loadCredentials(pki.server.chainPem, { pem: 'nonsense' }), { code: 'EINVAL' });
    assert.throws(() => loadCredentials(pki.server.chainPem, { uri: 'pkcs11:token=no-such-token;object=x;type=private' }), {
      code: 'ENOKEY',
    });
  });
});

describe('verifyChain and certInfo', () => {
  const anchors = [pki.ca.certPem];
  const statusOf = (cert: Cert, extra: Partial<Parameters<typeof verifyChain>[1]> = {}) =>
    verifyChain([cert.der], { anchorsPem: anchors, purpose: 'server', hostname: SERVER_NAME, ...extra });

  it('accepts the good server and client certificates', () => {
    assert.deepEqual(statusOf(pki.server), { ok: true, status: [], message: statusOf(pki.server).message });
    assert.equal(verifyChain([pki.client.der], { anchorsPem: anchors, purpose: 'client', email: CLIENT_EMAIL }).ok, true);
    assert.equal(statusOf(pki.serverRsa).ok, true);
  });

  it('names what is wrong', () => {
    const cases: [string, ReturnType<typeof statusOf>, string][] = [
      ['expired', statusOf(pki.expired), 'EXPIRED'],
      ['not yet valid', statusOf(pki.notYetValid), 'NOT_ACTIVATED'],
      ['unknown CA', statusOf(pki.otherCaServer), 'SIGNER_NOT_FOUND'],
      ['self-signed', statusOf(pki.selfSigned), 'SIGNER_NOT_FOUND'],
      ['wrong hostname', statusOf(pki.server, { hostname: 'other.example.test' }), 'UNEXPECTED_OWNER'],
      [
        'wrong email',
        verifyChain([pki.client.der], { anchorsPem: anchors, purpose: 'client', email: 'bob@example.test' }),
        'UNEXPECTED_OWNER',
      ],
      ['client certificate used by a server', statusOf(pki.client, { hostname: undefined }), 'PURPOSE_MISMATCH'],
      ['revoked', statusOf(pki.revoked, { crlsPem: [pki.crlPem] }), 'REVOKED'],
      ['no anchors', statusOf(pki.server, { anchorsPem: [] }), 'SIGNER_NOT_FOUND'],
    ];
    for (const [what, r, status] of cases) {
      assert.equal(r.ok, false, what);
      assert.ok(r.status.includes(status), `${what}: ${r.status.join(',')}`);
      assert.ok(r.message.length > 0);
    }
    assert.equal(statusOf(pki.revoked).ok, true, 'without the CRL, the revoked certificate passes');
    assert.deepEqual(verifyChain([], { anchorsPem: anchors, purpose: 'server' }).status, ['NO_CERTIFICATE']);
  });

  it('a trust store built once gives the same verdicts, CRLs included, and refuses use after close', () => {
    const trust = createTrustStore({ anchorsPem: anchors, crlsPem: [pki.crlPem] });
    const viaStore = (cert: Cert) => verifyChain([cert.der], { trust, purpose: 'server', hostname: SERVER_NAME });
    assert.equal(viaStore(pki.server).ok, true);
    assert.deepEqual(viaStore(pki.revoked).status, ['REVOKED']);
    for (const cert of [pki.expired, pki.notYetValid, pki.selfSigned, pki.otherCaServer]) {
      assert.deepEqual(viaStore(cert).status, statusOf(cert).status, cert.name);
    }
    trust.close();
    assert.equal(trust.closed, true);
    assert.throws(() => viaStore(pki.server), /open TlsTrustStore/);
    assert.throws(() => verifyChain([pki.server.der], { trust: {} as never, purpose: 'server' }), /open TlsTrustStore/);
  });

  it('judges validity at another time when asked', () => {
    assert.equal(statusOf(pki.expired, { atTime: new Date('2000-06-01T00:00:00Z') }).ok, false); // the CA did not exist yet
    const r = statusOf(pki.server, { atTime: new Date('2000-06-01T00:00:00Z') });
    assert.ok(r.status.includes('NOT_ACTIVATED'), r.status.join(','));
    assert.ok(statusOf(pki.server, { atTime: new Date(Date.now() + 400 * 86400_000) }).status.includes('EXPIRED'));
    assert.equal(statusOf(pki.server, { atTime: new Date() }).ok, true);
  });

  it('certInfo describes a certificate', () => {
    const s = certInfo(pki.server.der);
    assert.deepEqual(s.dnsNames, [SERVER_NAME]);
    assert.deepEqual(s.rfc822Names, []);
    assert.equal(s.commonName, SERVER_NAME);
    assert.equal(s.sha256, pki.server.sha256);
    assert.equal(s.selfSigned, false);
    assert.equal(s.isCA, false);
    assert.match(s.issuer, /CN=TLS Pool Test CA/);
    assert.match(s.serial, /^[0-9a-f]+$/);
    assert.ok(s.notBefore < new Date() && new Date() < s.notAfter);
    const c = certInfo(pki.client.der);
    assert.deepEqual(c.rfc822Names, [CLIENT_EMAIL]);
    assert.equal(c.commonName, 'alice');
    const ca = certInfo(pki.ca.der);
    assert.equal(ca.selfSigned, true);
    assert.equal(ca.isCA, true);
    assert.equal(certInfo(pki.selfSigned.der).selfSigned, true);
    assert.equal(certInfo(pki.expired.der).notAfter.toISOString(), '2001-01-01T00:00:00.000Z');
    assert.throws(() => certInfo(Buffer.from('not a certificate')), { code: 'EINVAL' });
  });
});

describe('descriptors', () => {
  it('the test process has as many descriptors open as at the start', GUARD, async () => {
    // Sessions close their descriptors before reporting their end; Node closes
    // the plaintext sockets it wrapped asynchronously. Wait for that, bounded.
    for (let i = 0; i < 100 && fdCount() > fdsAtStart; i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(fdCount() <= fdsAtStart, `open now: ${fdCount()}, at start: ${fdsAtStart}\n${fdList().join('\n')}`);
  });
});
