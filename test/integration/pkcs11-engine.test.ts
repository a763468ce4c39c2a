/**
 * The TLS engine with keys on a PKCS #11 token (SoftHSM2): the key opens on
 * the session thread, the PIN is asked through the session's `pin` option
 * and waited for, wrong PINs are asked again with the next attempt, and
 * concurrent sessions presenting one locked key ask once.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import type { Established, PinContext, SessionEnd, StartOptions } from '../../src/addon/tls/options';
import { loadCredentials, type NativeCredentials } from '../../src/addon/tls/credentials';
import { pkcs11Configure, pkcs11Logout } from '../../src/addon/tls/pkcs11';
import { startSession } from '../../src/addon/tls/session';
import { TlsError } from '../../src/addon/tls/failure';
import { getPki } from '../../harness/pki';
import { startOpensslClient, startOpensslServer } from '../../harness/peers';
import { createSoftHsm, SOFTHSM_MODULE, type TokenKey } from '../../harness/softhsm';
import { takeFd } from '../../src/addon/node-socket';

const GUARD = { timeout: 60_000 };
const PIN = '246810';
const pki = getPki();
const hsm = createSoftHsm();
const keys = new Map<string, TokenKey>();

/** One token per test, made before this process first touches PKCS #11 (SoftHSM finds tokens at initialisation). */
const TOKENS = ['client', 'wrong', 'cancel', 'ten', 'server', 'logout', 'gate'];

before(() => {
  for (const name of TOKENS) {
    hsm.initToken(`t-${name}`, PIN);
    const cert = name === 'server' ? pki.server : pki.client;
    keys.set(name, hsm.importKey({ token: `t-${name}`, pin: PIN, keyPath: cert.keyPath, object: 'key', id: '01' }));
  }
  process.env.SOFTHSM2_CONF = hsm.conf;
  pkcs11Configure([SOFTHSM_MODULE]);
});

const opened: NativeCredentials[] = [];
after(() => {
  for (const c of opened) c.close();
  hsm.cleanup();
});

function tokenCreds(name: string): NativeCredentials {
  const cert = name === 'server' ? pki.server : pki.client;
  const c = loadCredentials(cert.chainPem, { uri: keys.get(name)!.uri });
  opened.push(c);
  return c;
}

async function tcpConnect(port: number): Promise<number> {
  const sock = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  return takeFd(sock).release();
}

async function tcpPairs(n: number): Promise<Array<{ clientFd: number; serverFd: number }>> {
  const server = net.createServer({ pauseOnConnect: true });
  const accepted: number[] = [];
  let wake: () => void = () => {};
  server.on('connection', (s) => {
    accepted.push(takeFd(s).release());
    wake();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const pairs: Array<{ clientFd: number; serverFd: number }> = [];
  for (let i = 0; i < n; i++) {
    const clientFd = await tcpConnect(port);
    while (accepted.length === 0) await new Promise<void>((r) => (wake = r));
    pairs.push({ clientFd, serverFd: accepted.shift()! });
  }
  await new Promise<void>((r) => server.close(() => r()));
  return pairs;
}

function plain(est: Established): net.Socket {
  return new net.Socket({ fd: est.plaintextFd, readable: true, writable: true, allowHalfOpen: true });
}

function ends(): { onEnd: (e: SessionEnd) => void; ended: Promise<SessionEnd> } {
  let resolve!: (e: SessionEnd) => void;
  return { ended: new Promise<SessionEnd>((r) => (resolve = r)), onEnd: (e) => resolve(e) };
}

function pinBytes(pin: string): Uint8Array {
  return new TextEncoder().encode(pin);
}

function clientOpts(fd: number, extra: Partial<StartOptions>): StartOptions {
  return {
    fd,
    role: 'client',
    credentials: () => null,
    verifyPeer: () => ({ ok: true }),
    ...extra,
  };
}

async function closeSession(est: Established, ended: Promise<SessionEnd>): Promise<void> {
  const app = plain(est);
  app.end();
  app.resume();
  await ended;
  app.destroy();
}

describe('keys on a PKCS #11 token', () => {
  it('a client key on the token signs for openssl s_server -Verify 1 after the PIN callback gives the PIN', GUARD, async () => {
    const srv = await startOpensslServer({ certPath: pki.server.certPath, keyPath: pki.server.keyPath, caPath: pki.ca.certPath, clientCert: 'require' });
    try {
      const creds = tokenCreds('client');
      assert.equal(creds.keyOpen, false, 'the key is opened by the handshake, not by loading');
      const asked: PinContext[] = [];
      const given: Uint8Array[] = [];
      const end = ends();
      const est = await startSession(
        clientOpts(await tcpConnect(srv.port), {
          credentials: () => creds,
          pin: (ctx) => {
            asked.push(ctx);
            const p = pinBytes(PIN);
            given.push(p);
            return p;
          },
        }),
        end.onEnd,
      );
      assert.equal(asked.length, 1);
      assert.equal(asked[0]!.tokenLabel, 't-client');
      assert.match(asked[0]!.tokenUrl, /token=t-client/);
      assert.match(asked[0]!.tokenUrl, /manufacturer=SoftHSM/);
      assert.equal(asked[0]!.keyUri, keys.get('client')!.uri);
      assert.equal(asked[0]!.attempt, 1);
      assert.equal(asked[0]!.wrong, false);
      assert.deepEqual([...given[0]!], new Array(PIN.length).fill(0), 'the engine wiped the PIN it was given');
      assert.equal(creds.keyOpen, true);
      await closeSession(est, end.ended);
      const out = await srv.waitFor(/CN ?= ?alice/);
      assert.match(out, /verify return:1/);
    } finally {
      await srv.stop();
    }
  });

  it('a wrong PIN is asked again with the next attempt and the wrong flag; the right one then opens the key', GUARD, async () => {
    const srv = await startOpensslServer({ certPath: pki.server.certPath, keyPath: pki.server.keyPath, caPath: pki.ca.certPath, clientCert: 'require' });
    try {
      const creds = tokenCreds('wrong');
      const asked: PinContext[] = [];
      const end = ends();
      const est = await startSession(
        clientOpts(await tcpConnect(srv.port), {
          credentials: () => creds,
          pin: (ctx) => {
            asked.push(ctx);
            return pinBytes(ctx.attempt === 1 ? '000000' : PIN);
          },
        }),
        end.onEnd,
      );
      assert.deepEqual(
        asked.map((a) => [a.attempt, a.wrong]),
        [
          [1, false],
          [2, true],
        ],
      );
      await closeSession(est, end.ended);
    } finally {
      await srv.stop();
    }
  });

  it('a refused PIN request fails the handshake with its errno (ECANCELED), and the key stays closed', GUARD, async () => {
    const srv = await startOpensslServer({ certPath: pki.server.certPath, keyPath: pki.server.keyPath, caPath: pki.ca.certPath, clientCert: 'require' });
    try {
      const creds = tokenCreds('cancel');
      let asked = 0;
      const err = await startSession(
        clientOpts(await tcpConnect(srv.port), {
          credentials: () => creds,
          pin: () => {
            asked++;
            throw Object.assign(new Error('PIN entry was cancelled'), { code: 'ECANCELED' });
          },
        }),
        () => assert.fail('no onEnd for a failed handshake'),
      ).then(
        () => assert.fail('the handshake should fail'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof TlsError, String(err));
      assert.equal(err.code, 'ECANCELED');
      assert.match(err.message, /cancelled/);
      assert.equal(asked, 1);
      assert.equal(creds.keyOpen, false);
    } finally {
      await srv.stop();
    }
  });

  it('ten concurrent handshakes presenting one locked key ask for the PIN once', GUARD, async () => {
    const creds = tokenCreds('ten');
    const serverCreds = loadCredentials(pki.server.chainPem, { pem: pki.server.keyPem });
    opened.push(serverCreds);
    let asked = 0;
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const pairs = await tcpPairs(10);
    const sessions = pairs.map(({ clientFd, serverFd }) => {
      const ce = ends();
      const se = ends();
      const client = startSession(
        clientOpts(clientFd, {
          credentials: () => creds,
          pin: async () => {
            asked++;
            await held; // the person is still typing while the other nine arrive
            return pinBytes(PIN);
          },
        }),
        ce.onEnd,
      );
      const server = startSession(
        { fd: serverFd, role: 'server', certRequest: 'require', credentials: () => serverCreds, verifyPeer: () => ({ ok: true }) },
        se.onEnd,
      );
      return { client, server, ce, se };
    });
    // Every client is inside its handshake once the first PIN request arrived and the servers asked for certificates.
    const deadline = Date.now() + 20_000;
    while (asked === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    release();
    for (const s of sessions) {
      const [c, sv] = await Promise.all([s.client, s.server]);
      plain(sv).destroy();
      await Promise.all([closeSession(c, s.ce.ended), s.se.ended]);
    }
    assert.equal(asked, 1);
  });

  it('two keys on one locked token open one after the other: a wrong PIN is tried once, and the second key needs no PIN', GUARD, async () => {
    // Two loads of one URI are two credentials, each opening its own key (as two identities on one token would).
    const a = tokenCreds('gate');
    const b = tokenCreds('gate');
    const serverCreds = loadCredentials(pki.server.chainPem, { pem: pki.server.keyPem });
    opened.push(serverCreds);
    const asked: PinContext[] = [];
    const pairs = await tcpPairs(2);
    const runs = pairs.map(({ clientFd, serverFd }, i) => {
      const ce = ends();
      const se = ends();
      return Promise.all([
        startSession(
          clientOpts(clientFd, {
            credentials: () => (i === 0 ? a : b),
            pin: (ctx) => {
              asked.push(ctx);
              return pinBytes(asked.length === 1 ? '000000' : PIN);
            },
          }),
          ce.onEnd,
        ),
        startSession({ fd: serverFd, role: 'server', certRequest: 'require', credentials: () => serverCreds, verifyPeer: () => ({ ok: true }) }, se.onEnd),
      ]).then(async ([c, s]) => {
        plain(s).destroy();
        await Promise.all([closeSession(c, ce.ended), se.ended]);
      });
    });
    await Promise.all(runs);
    assert.deepEqual(
      asked.map((x) => [x.attempt, x.wrong]),
      [
        [1, false],
        [2, true],
      ],
    );
    assert.equal(a.keyOpen && b.keyOpen, true);
  });

  it('a server key on the token serves openssl s_client', GUARD, async () => {
    const creds = tokenCreds('server');
    const listener = net.createServer({ pauseOnConnect: true });
    await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
    const port = (listener.address() as net.AddressInfo).port;
    const accepted = new Promise<number>((resolve) => listener.once('connection', (s) => resolve(takeFd(s).release())));
    const cli = startOpensslClient({ port, caPath: pki.ca.certPath, serverName: 'server.example.test' });
    try {
      const fd = await accepted;
      const asked: PinContext[] = [];
      const end = ends();
      const est = await startSession(
        {
          fd,
          role: 'server',
          credentials: () => creds,
          verifyPeer: () => ({ ok: true }),
          pin: (ctx) => {
            asked.push(ctx);
            return pinBytes(PIN);
          },
        },
        end.onEnd,
      );
      assert.equal(asked.length, 1);
      assert.equal(asked[0]!.tokenLabel, 't-server');
      await cli.waitFor(/Verify return code: 0 \(ok\)/);
      cli.endInput();
      await closeSession(est, end.ended);
    } finally {
      await cli.stop();
      await new Promise<void>((r) => listener.close(() => r()));
    }
  });

  it('after pkcs11Logout, a newly loaded key on that token asks for the PIN again', GUARD, async () => {
    const pairs = await tcpPairs(2);
    const serverCreds = loadCredentials(pki.server.chainPem, { pem: pki.server.keyPem });
    opened.push(serverCreds);
    let asked = 0;
    for (const [i, { clientFd, serverFd }] of pairs.entries()) {
      const creds = tokenCreds('logout');
      const ce = ends();
      const se = ends();
      const [c, s] = await Promise.all([
        startSession(
          clientOpts(clientFd, {
            credentials: () => creds,
            pin: () => {
              asked++;
              return pinBytes(PIN);
            },
          }),
          ce.onEnd,
        ),
        startSession({ fd: serverFd, role: 'server', certRequest: 'require', credentials: () => serverCreds, verifyPeer: () => ({ ok: true }) }, se.onEnd),
      ]);
      plain(s).destroy();
      await Promise.all([closeSession(c, ce.ended), se.ended]);
      assert.equal(asked, i + 1);
      assert.equal(pkcs11Logout('pkcs11:token=t-logout'), true);
    }
    assert.equal(pkcs11Logout('pkcs11:token=no-such-token'), false);
  });
});
