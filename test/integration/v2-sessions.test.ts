/**
 * V2 sessions through the Node V2 client (src/client/v2-client.ts): a V2
 * STARTTLS to a Node tls server, whose own exporter and Finished messages
 * are the independent check of PRNG and tls-unique; pool-to-pool sessions
 * where both ends must agree; and what DETACH, FORK and REATTACH do when
 * control connections close.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { V2Client, v2Code, type V2Session, type V2StartTlsOptions } from '../../src/client/v2-client';
import { V2InfoKind, V2StartTlsFlag as F } from '../../src/protocol/v2-constants';
import { IpProto } from '../../src/protocol';
import { takeFd } from '../../src/addon/node-socket';
import { Tlsp } from '../../src/protocol/v2-errors';
import { exchangeDatagrams, startExamplePool, tcpConnect, udpConnect, TcpListener, Plaintext, PlainDatagrams, rejection, HANG_GUARD_MS, type Pool } from '../../harness/starttls';
import { CLIENT_EMAIL, getPki, SERVER_NAME } from '../../harness/pki';
import { startGnutlsServer, startOpensslClient, startOpensslServer, type Peer } from '../../harness/peers';
import { waitFor } from '../../harness/wait';

const LABEL = 'EXPERIMENTAL-tlspool-test';
const CONTEXT = Buffer.from('0123456789abcdef');

/** A Node TLS server that echoes lines in upper case, keeping its sockets for the checks. */
class NodeTlsPeer {
  readonly sockets: tls.TLSSocket[] = [];
  private constructor(readonly server: tls.Server) {
    server.on('secureConnection', (s) => {
      this.sockets.push(s);
      s.setEncoding('latin1');
      s.on('data', (d: string) => s.write(d.toUpperCase()));
      s.on('error', () => {});
    });
  }

  static async start(opts: tls.TlsOptions = {}): Promise<NodeTlsPeer> {
    const pki = getPki();
    const server = tls.createServer({ key: pki.server.keyPem, cert: pki.server.certPem, ...opts });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new NodeTlsPeer(server);
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** The server side of the n-th connection, once it is established. */
  socket(n: number): Promise<tls.TLSSocket> {
    return waitFor(`TLS connection ${n} at the Node peer`, () => this.sockets[n], HANG_GUARD_MS);
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

describe('V2 sessions seen from Node', () => {
  let pool: Pool;
  let peer12: NodeTlsPeer;
  let peer13: NodeTlsPeer;

  before(async () => {
    pool = await startExamplePool();
    peer12 = await NodeTlsPeer.start({ maxVersion: 'TLSv1.2' });
    peer13 = await NodeTlsPeer.start({ minVersion: 'TLSv1.3' });
  });
  after(async () => {
    await peer12?.close();
    await peer13?.close();
    await pool?.stop();
  });

  /** A V2 client session to a Node peer, on a fresh pool connection. */
  async function toPeer(peer: NodeTlsPeer, flags = 0) {
    const v2 = V2Client.connect(pool.daemon.socket);
    const fd = await tcpConnect(peer.port);
    try {
      const s = await v2.starttls({ role: 'client', fd, remoteid: SERVER_NAME, flags });
      return { v2, s, plain: new Plaintext(s.fd!) };
    } finally {
      fd.close();
    }
  }

  test('TLS 1.2: PRNG equals the peer exporter, tls-unique its Finished, tls-server-end-point the certificate hash', async () => {
    const n = peer12.sockets.length;
    const { v2, s, plain } = await toPeer(peer12);
    try {
      assert.equal(s.remoteid, SERVER_NAME);
      plain.write('hello v2\n');
      await plain.until('HELLO V2\n');
      const theirs = await peer12.socket(n);
      assert.equal(theirs.getProtocol(), 'TLSv1.2');
      // RFC 5705 under TLS 1.2: no context and an empty context differ, and both match the peer.
      assert.deepEqual(await v2.prng(s.ctlkey, LABEL, null, 32), (theirs.exportKeyingMaterial as (n: number, l: string) => Buffer)(32, LABEL));
      assert.deepEqual(await v2.prng(s.ctlkey, LABEL, CONTEXT, 48), theirs.exportKeyingMaterial(48, LABEL, CONTEXT));
      assert.notDeepEqual(await v2.prng(s.ctlkey, LABEL, Buffer.alloc(0), 32), await v2.prng(s.ctlkey, LABEL, null, 32));
      // tls-unique is the first Finished of the handshake: the client's, which the server received.
      assert.deepEqual(await v2.info(s.ctlkey, V2InfoKind.CHANBIND_TLS_UNIQUE), theirs.getPeerFinished());
      assert.equal((await v2.info(s.ctlkey, V2InfoKind.CHANBIND_TLS_SERVER_END_POINT)).toString('hex'), getPki().server.sha256);
    } finally {
      plain.destroy();
      v2.close();
    }
  });

  test('TLS 1.2 RENEGOTIATE as client: new keys on both ends, data before and after, the same names; then the peer renegotiates and the pool follows', async () => {
    const n = peer12.sockets.length;
    const { v2, s, plain } = await toPeer(peer12);
    try {
      const theirs = await peer12.socket(n);
      const before = await v2.prng(s.ctlkey, LABEL, CONTEXT, 32);
      plain.write('before\n');
      await plain.until('BEFORE\n');
      assert.deepEqual(await v2.renegotiate(s.ctlkey), { localid: s.localid, remoteid: SERVER_NAME });
      const after = await v2.prng(s.ctlkey, LABEL, CONTEXT, 32);
      assert.notDeepEqual(after, before, 'a new handshake, new keying material');
      assert.deepEqual(after, theirs.exportKeyingMaterial(32, LABEL, CONTEXT), 'the peer has the same new keys');
      plain.write('after\n');
      await plain.until('AFTER\n');

      // The peer asks (a HelloRequest): the pool runs the handshake without asking anyone.
      await new Promise<void>((resolve, reject) => theirs.renegotiate({}, (e) => (e ? reject(e) : resolve())));
      plain.write('peer asked\n');
      await plain.until('PEER ASKED\n');
      const third = await v2.prng(s.ctlkey, LABEL, CONTEXT, 32);
      assert.notDeepEqual(third, after);
      assert.deepEqual(third, theirs.exportKeyingMaterial(32, LABEL, CONTEXT));
      assert.match(pool.daemon.logs(), /"msg":"the peer renegotiated the TLS session".*"outcome":"done","version":"TLS1.2"/);
      // Another identity is not what RENEGOTIATE does.
      const other = await rejection(v2.starttls({ role: 'client', fd: undefined as never, ctlkey: s.ctlkey, localid: CLIENT_EMAIL, flags: F.RENEGOTIATE }));
      assert.equal(v2Code(other), Tlsp.E_TLSPOOL_COMMAND_NOTIMPL, other.message);
    } finally {
      plain.destroy();
      v2.close();
    }
  });

  test('five RENEGOTIATE requests at once on one session: one runs, the others are told one is under way; the session agrees with its peer after', async () => {
    const n = peer12.sockets.length;
    const { v2, s, plain } = await toPeer(peer12);
    try {
      const theirs = await peer12.socket(n);
      const outcomes = await Promise.all(
        Array.from({ length: 5 }, () => v2.renegotiate(s.ctlkey).then(() => 'done', (e: Error) => `${v2Code(e as never)}: ${e.message}`)),
      );
      assert.equal(outcomes.filter((o) => o === 'done').length, 1, outcomes.join('\n'));
      for (const o of outcomes.filter((x) => x !== 'done')) assert.match(o, new RegExp(`^${Tlsp.E_TLSPOOL_RENOGIATE_NOT_INTERRUPTABLE}: .*under way`));
      assert.deepEqual(await v2.prng(s.ctlkey, LABEL, CONTEXT, 32), theirs.exportKeyingMaterial(32, LABEL, CONTEXT));
      plain.write('all done\n');
      await plain.until('ALL DONE\n');
    } finally {
      plain.destroy();
      v2.close();
    }
  });

  test('TLS 1.2 RENEGOTIATE against openssl s_server and gnutls-serv: accepted where they allow it, declined (the session goes on) where they do not', async () => {
    const pki = getPki();
    const base = { certPath: pki.server.chainPath, keyPath: pki.server.keyPath, version: '1.2' as const, rev: true };
    const peers: Array<[string, Peer, boolean]> = [];
    try {
      peers.push(['s_server -client_renegotiation', await startOpensslServer({ ...base, extraArgs: ['-client_renegotiation'] }), true]);
      peers.push(['s_server (client renegotiation off)', await startOpensslServer(base), false]);
      peers.push(['gnutls-serv', await startGnutlsServer({ certPath: pki.server.chainPath, keyPath: pki.server.keyPath, priority: 'NORMAL:-VERS-ALL:+VERS-TLS1.2' }), true]);
      for (const [what, peer, accepts] of peers) {
        const v2 = V2Client.connect(pool.daemon.socket);
        const fd = await tcpConnect(peer.port);
        const s = await v2.starttls({ role: 'client', fd, remoteid: SERVER_NAME }).finally(() => fd.close());
        const plain = new Plaintext(s.fd!);
        try {
          const echo = (line: string) => (what.startsWith('gnutls') ? line : [...line].reverse().join(''));
          plain.write('one\n');
          await plain.until(`${echo('one')}\n`);
          const before = await v2.prng(s.ctlkey, LABEL, null, 32);
          if (accepts) {
            await v2.renegotiate(s.ctlkey);
            assert.notDeepEqual(await v2.prng(s.ctlkey, LABEL, null, 32), before, `${what}: new keys`);
          } else {
            const e = await rejection(v2.renegotiate(s.ctlkey));
            assert.equal(v2Code(e), Tlsp.E_TLSPOOL_STIRRED_NOT_SHAKEN, `${what}: ${e.message}`);
            assert.match(e.message, /declined/);
            // The records keep their keys, but GnuTLS's exporter no longer agrees with the peer's: refused, not wrong.
            assert.equal(v2Code(await rejection(v2.prng(s.ctlkey, LABEL, null, 32))), Tlsp.E_TLSPOOL_PRNG_UNAVAILABLE, what);
          }
          plain.write('two\n');
          await plain.until(`${echo('two')}\n`);
        } finally {
          plain.destroy();
          v2.close();
        }
      }
    } finally {
      for (const [, peer] of peers) await peer.stop();
    }
  });

  test('RENEGOTIATE as server while data goes back and forth: five new handshakes, and every byte of 4 MiB comes back once, in order', async () => {
    const listener = await TcpListener.open();
    const v2 = V2Client.connect(pool.daemon.socket);
    const pki = getPki();
    const theirs = tls.connect({ port: listener.port, host: '127.0.0.1', ca: pki.ca.certPem, key: pki.client.keyPem, cert: pki.client.certPem, servername: SERVER_NAME, maxVersion: 'TLSv1.2' });
    try {
      const fd = await listener.accept();
      const s = await v2.starttls({ role: 'server', fd, localid: SERVER_NAME, flags: F.IGNORE_CACHES }).finally(() => fd.close());
      // The application behind the pool echoes all it gets.
      const app = new net.Socket({ fd: s.fd!.release(), readable: true, writable: true });
      app.on('error', () => {});
      app.pipe(app);
      // 4 MiB of every byte value in a scrambled order, sent by the Node client in 64 KiB pieces, each once the last came back.
      const sent = Buffer.alloc(4 << 20);
      for (let i = 0; i < sent.length; i++) sent[i] = (i * 2654435761) >>> 13;
      const back: Buffer[] = [];
      let got = 0;
      theirs.on('data', (d: Buffer) => {
        back.push(d);
        got += d.length;
      });
      const talking = (async () => {
        for (let off = 0; off < sent.length; off += 65536) {
          theirs.write(sent.subarray(off, off + 65536));
          await waitFor(`the echo of ${off + 65536} bytes`, () => got >= off + 65536, HANG_GUARD_MS);
        }
      })();
      const keys: string[] = [(await v2.prng(s.ctlkey, LABEL, null, 32)).toString('hex')];
      for (let i = 0; i < 5; i++) {
        await v2.renegotiate(s.ctlkey);
        keys.push((await v2.prng(s.ctlkey, LABEL, null, 32)).toString('hex'));
      }
      await talking;
      const echoed = Buffer.concat(back);
      assert.equal(echoed.length, sent.length, 'no byte twice');
      assert.ok(echoed.equals(sent), 'every byte back, in order');
      assert.equal(new Set(keys).size, 6, 'each renegotiation brought new keys');
      assert.equal((theirs.exportKeyingMaterial as (n: number, l: string) => Buffer)(32, LABEL).toString('hex'), keys[5]);
      app.destroy();
    } finally {
      theirs.destroy();
      v2.close();
      await listener.close();
    }
  });

  test('TLS 1.2 RENEGOTIATE as server: with IGNORE_CACHES the pool asks its Node client for a new handshake; with session tickets it says why not; the session goes on', async () => {
    const listener = await TcpListener.open();
    const v2 = V2Client.connect(pool.daemon.socket);
    const pki = getPki();
    const theirs = tls.connect({ port: listener.port, host: '127.0.0.1', ca: pki.ca.certPem, key: pki.client.keyPem, cert: pki.client.certPem, servername: SERVER_NAME, maxVersion: 'TLSv1.2' });
    theirs.setEncoding('latin1');
    const cleanup: Array<() => void> = [];
    try {
      const fd = await listener.accept();
      const s = await v2.starttls({ role: 'server', fd, localid: SERVER_NAME, flags: F.IGNORE_CACHES }).finally(() => fd.close());
      assert.equal(s.remoteid, CLIENT_EMAIL);
      const plain = new Plaintext(s.fd!);
      await new Promise<void>((resolve) => (theirs.authorized ? resolve() : theirs.once('secureConnect', () => resolve())));
      const before = theirs.exportKeyingMaterial(32, LABEL, CONTEXT);
      // Node's client answers the HelloRequest once it reads; the echo keeps it reading.
      theirs.on('data', (d: string) => theirs.write(d.toUpperCase()));
      assert.deepEqual(await v2.renegotiate(s.ctlkey), { localid: SERVER_NAME, remoteid: CLIENT_EMAIL });
      plain.write('after the new handshake\n');
      await plain.until('AFTER THE NEW HANDSHAKE\n');
      const after = await v2.prng(s.ctlkey, LABEL, CONTEXT, 32);
      assert.notDeepEqual(after, before);
      assert.deepEqual(after, theirs.exportKeyingMaterial(32, LABEL, CONTEXT));

      plain.destroy();

      // A session that gave its client a TLS 1.2 ticket: refused with the reason, and it goes on.
      const second = tls.connect({ port: listener.port, host: '127.0.0.1', ca: pki.ca.certPem, key: pki.client.keyPem, cert: pki.client.certPem, servername: SERVER_NAME, maxVersion: 'TLSv1.2' });
      second.setEncoding('latin1');
      second.on('data', (d: string) => second.write(d.toUpperCase()));
      cleanup.push(() => second.destroy());
      const fd2 = await listener.accept();
      const s2 = await v2.starttls({ role: 'server', fd: fd2, localid: SERVER_NAME }).finally(() => fd2.close());
      const plain2 = new Plaintext(s2.fd!);
      cleanup.push(() => plain2.destroy());
      const refused = await rejection(v2.renegotiate(s2.ctlkey));
      assert.equal(v2Code(refused), Tlsp.E_TLSPOOL_RENOGIATE_NOT_INTERRUPTABLE);
      assert.match(refused.message, /session tickets.*IGNORE_CACHES/);
      plain2.write('still on\n');
      await plain2.until('STILL ON\n');
    } finally {
      for (const c of cleanup) c();
      theirs.destroy();
      v2.close();
      await listener.close();
    }
  });

  test('TLS 1.2 RENEGOTIATE, pool to pool: the client pool follows the HelloRequest, ignores a second within 10 s (withdrawn at the timeout), and openssl s_client -no_renegotiation declines', async () => {
    // A pool of its own that speaks TLS 1.2 only, on both ends.
    const pool12 = await startExamplePool({ priority: 'NORMAL:-VERS-ALL:+VERS-TLS1.2' });
    const listener = await TcpListener.open();
    const [a, b] = [V2Client.connect(pool12.daemon.socket), V2Client.connect(pool12.daemon.socket)];
    const pki = getPki();
    let sClient: Peer | undefined;
    try {
      const cfd = await tcpConnect(listener.port);
      const sfd = await listener.accept();
      const [cs, ss] = await Promise.all([
        a.starttls({ role: 'client', fd: cfd, localid: CLIENT_EMAIL, remoteid: SERVER_NAME, flags: F.IGNORE_CACHES }).finally(() => cfd.close()),
        b.starttls({ role: 'server', fd: sfd, localid: SERVER_NAME, flags: F.IGNORE_CACHES }).finally(() => sfd.close()),
      ]);
      const [cp, sp] = [new Plaintext(cs.fd!), new Plaintext(ss.fd!)];
      try {
        const before = await a.prng(cs.ctlkey, LABEL, CONTEXT, 32);
        await b.renegotiate(ss.ctlkey);
        const after = await b.prng(ss.ctlkey, LABEL, CONTEXT, 32);
        assert.notDeepEqual(after, before);
        assert.deepEqual(await a.prng(cs.ctlkey, LABEL, CONTEXT, 32), after, 'both pools have the new keys');
        // At once again: the client pool takes a peer's request at most once per 10 s, so this one is not answered.
        const unanswered = await rejection(b.renegotiate(ss.ctlkey, 300));
        assert.equal(v2Code(unanswered), Tlsp.E_TLSPOOL_RENOGIATE_NOT_INTERRUPTABLE, unanswered.message);
        assert.match(unanswered.message, /no new handshake began within 0.3 s.*goes on/);
        cp.write('ping\n');
        await sp.until('ping\n');
        sp.write('pong\n');
        await cp.until('pong\n');
        assert.deepEqual(await a.prng(cs.ctlkey, LABEL, CONTEXT, 32), await b.prng(ss.ctlkey, LABEL, CONTEXT, 32));
      } finally {
        cp.destroy();
        sp.destroy();
      }

      // openssl s_client -no_renegotiation answers the HelloRequest with no_renegotiation.
      sClient = startOpensslClient({ port: listener.port, serverName: SERVER_NAME, caPath: pki.ca.certPath, certPath: pki.client.certPath, keyPath: pki.client.keyPath, version: '1.2', extraArgs: ['-no_renegotiation'] });
      const fd = await listener.accept();
      const s = await b.starttls({ role: 'server', fd, localid: SERVER_NAME, flags: F.IGNORE_CACHES }).finally(() => fd.close());
      const plain = new Plaintext(s.fd!);
      try {
        const keys = await b.prng(s.ctlkey, LABEL, CONTEXT, 32);
        const declined = await rejection(b.renegotiate(s.ctlkey));
        assert.equal(v2Code(declined), Tlsp.E_TLSPOOL_STIRRED_NOT_SHAKEN, declined.message);
        assert.match(declined.message, /declined/);
        assert.deepEqual(await b.prng(s.ctlkey, LABEL, CONTEXT, 32), keys, 'a declined HelloRequest changes nothing');
        plain.write('still talking\n');
        await sClient.waitFor('still talking');
      } finally {
        plain.destroy();
      }
    } finally {
      await sClient?.stop();
      a.close();
      b.close();
      await listener.close();
      await pool12.stop();
    }
  });

  test('TLS 1.3: PRNG equals the peer exporter; tls-unique does not exist; RENEGOTIATE would be insecure', async () => {
    const n = peer13.sockets.length;
    const { v2, s, plain } = await toPeer(peer13);
    try {
      const theirs = await peer13.socket(n);
      assert.equal(theirs.getProtocol(), 'TLSv1.3');
      assert.deepEqual(await v2.prng(s.ctlkey, LABEL, CONTEXT, 32), theirs.exportKeyingMaterial(32, LABEL, CONTEXT));
      // RFC 9266 tls-exporter, through PRNG with its registered label.
      const tlsExporter = theirs.exportKeyingMaterial(32, 'EXPORTER-Channel-Binding', Buffer.alloc(0));
      assert.deepEqual(await v2.prng(s.ctlkey, 'EXPORTER-Channel-Binding', Buffer.alloc(0), 32), tlsExporter);
      // ... and as an INFO kind of this pool's own.
      assert.deepEqual(await v2.info(s.ctlkey, V2InfoKind.CHANBIND_TLS_EXPORTER), tlsExporter);
      assert.equal(v2Code(await rejection(v2.info(s.ctlkey, V2InfoKind.CHANBIND_TLS_UNIQUE))), Tlsp.E_TLSPOOL_INFO_NOT_FOUND);
      assert.equal(v2Code(await rejection(v2.starttls({ role: 'client', fd: undefined as never, ctlkey: s.ctlkey, flags: F.RENEGOTIATE }))),
        Tlsp.E_TLSPOOL_RENOGIATE_WOULD_BE_INSECURE);
      // The session goes on after the refusals.
      plain.write('still here\n');
      await plain.until('STILL HERE\n');
    } finally {
      plain.destroy();
      v2.close();
    }
  });

  test('pool to pool: both ends get the same PRNG and the names each other showed', async () => {
    const listener = await TcpListener.open();
    const a = V2Client.connect(pool.daemon.socket);
    const b = V2Client.connect(pool.daemon.socket);
    const cfd = await tcpConnect(listener.port);
    const sfd = await listener.accept();
    try {
      const [cs, ss] = await Promise.all([
        a.starttls({ role: 'client', fd: cfd, localid: CLIENT_EMAIL, remoteid: SERVER_NAME }),
        b.starttls({ role: 'server', fd: sfd, localid: SERVER_NAME }),
      ]);
      assert.equal(cs.remoteid, SERVER_NAME);
      assert.equal(ss.remoteid, CLIENT_EMAIL);
      assert.equal(ss.localid, SERVER_NAME);
      assert.deepEqual(await a.prng(cs.ctlkey, LABEL, CONTEXT, 64), await b.prng(ss.ctlkey, LABEL, CONTEXT, 64));
      assert.deepEqual(await a.info(cs.ctlkey, V2InfoKind.PEERCERT_SUBJECT), await b.info(ss.ctlkey, V2InfoKind.MYCERT_SUBJECT));
      assert.deepEqual(await a.info(cs.ctlkey, V2InfoKind.MYCERT_ISSUER), await b.info(ss.ctlkey, V2InfoKind.PEERCERT_ISSUER));
      const endPoint = await a.info(cs.ctlkey, V2InfoKind.CHANBIND_TLS_SERVER_END_POINT);
      assert.deepEqual(await b.info(ss.ctlkey, V2InfoKind.CHANBIND_TLS_SERVER_END_POINT), endPoint);
      assert.equal(endPoint.toString('hex'), getPki().server.sha256);
      const dns = Buffer.concat([Buffer.from([0x82, SERVER_NAME.length]), Buffer.from(SERVER_NAME)]);
      const mail = Buffer.concat([Buffer.from([0x81, CLIENT_EMAIL.length]), Buffer.from(CLIENT_EMAIL)]);
      assert.equal(await a.infoCheck(cs.ctlkey, V2InfoKind.PEERCERT_SUBJECTALTNAME, dns), true);
      assert.equal(await a.infoCheck(cs.ctlkey, V2InfoKind.PEERCERT_SUBJECTALTNAME, mail), false);
      assert.equal(await b.infoCheck(ss.ctlkey, V2InfoKind.PEERCERT_SUBJECTALTNAME, mail), true);
      assert.equal(await b.infoCheck(ss.ctlkey, V2InfoKind.MYCERT_SUBJECTALTNAME, dns), true);
      const [pa, pb] = [new Plaintext(cs.fd!), new Plaintext(ss.fd!)];
      pa.write('ping\n');
      await pb.until('ping\n');
      pa.destroy();
      pb.destroy();
    } finally {
      cfd.close();
      sfd.close();
      a.close();
      b.close();
      await listener.close();
    }
  });

  /** Two V2 ends of one TCP connection through the pool; resolves with what each end got (a result or its failure). */
  async function twoEnds(client: Partial<V2StartTlsOptions>, server: Partial<V2StartTlsOptions>) {
    const listener = await TcpListener.open();
    const a = V2Client.connect(pool.daemon.socket);
    const b = V2Client.connect(pool.daemon.socket);
    const cfd = await tcpConnect(listener.port);
    const sfd = await listener.accept();
    const settle = (p: Promise<V2Session>) => p.then((r) => { r.fd?.close(); return r; }, (e: unknown) => e as Error);
    try {
      return await Promise.all([
        settle(a.starttls({ role: 'client', fd: cfd, remoteid: SERVER_NAME, ...client })),
        settle(b.starttls({ role: 'server', fd: sfd, flags: F.IGNORE_REMOTEID, ...server })),
      ]);
    } finally {
      cfd.close();
      sfd.close();
      a.close();
      b.close();
      await listener.close();
    }
  }

  test('a server with LOCALID_CHECK is asked about the SNI name; a named localid that is not the SNI is refused', async () => {
    const seen: string[] = [];
    const onLocalId = ({ localid }: { localid: string }) => (seen.push(localid), localid);
    const [c1, s1] = await twoEnds({}, { flags: F.IGNORE_REMOTEID | F.LOCALID_CHECK, onLocalId });
    assert.deepEqual(seen, [SERVER_NAME]);
    assert.ok(!(c1 instanceof Error) && !(s1 instanceof Error), String(c1) + String(s1));
    assert.equal(s1.localid, SERVER_NAME);
    const [c2, s2] = await twoEnds({}, { localid: CLIENT_EMAIL });
    assert.ok(s2 instanceof Error && c2 instanceof Error);
    assert.equal(v2Code(s2), Tlsp.E_TLSPOOL_STIRRED_NOT_SHAKEN);
    assert.match(s2.message, /asked for server\.example\.test/);
    // WITHOUT_SNI: nothing to fit, the named identity is used.
    const [c3, s3] = await twoEnds({ flags: F.WITHOUT_SNI }, { localid: SERVER_NAME });
    assert.ok(!(c3 instanceof Error) && !(s3 instanceof Error), String(c3) + String(s3));
    assert.equal(c3.remoteid, SERVER_NAME);
    assert.equal(s3.localid, SERVER_NAME);
  });

  test('DETACH, REATTACH: the answers of the original test client, then control moves to another connection', async () => {
    const { v2, s, plain } = await toPeer(peer13);
    const other = V2Client.connect(pool.daemon.socket);
    try {
      const code = async (p: Promise<unknown>) => v2Code(await rejection(p));
      assert.equal(await code(v2.reattach(s.ctlkey)), Tlsp.E_TLSPOOL_CTLKEY_ATTACHED);
      assert.equal(await code(other.detach(s.ctlkey)), Tlsp.E_TLSPOOL_CTLKEY_NOT_YOURS);
      assert.equal(await code(other.prng(s.ctlkey, LABEL, null, 16)), Tlsp.E_TLSPOOL_CTLKEY_NOT_FOUND);
      await v2.detach(s.ctlkey);
      assert.equal(await code(v2.detach(s.ctlkey)), Tlsp.E_TLSPOOL_CTLKEY_DETACHED);
      assert.equal(await code(v2.prng(s.ctlkey, LABEL, null, 16)), Tlsp.E_TLSPOOL_CTLKEY_NOT_FOUND);
      const wrong = Buffer.from(s.ctlkey);
      wrong[0] ^= 1;
      assert.equal(await code(other.reattach(wrong)), Tlsp.E_TLSPOOL_CTLKEY_NOT_FOUND);
      // Detached, the session does not care that its first control connection goes away.
      v2.close();
      await other.reattach(s.ctlkey);
      assert.equal(await code(other.reattach(s.ctlkey)), Tlsp.E_TLSPOOL_CTLKEY_ATTACHED);
      assert.equal((await other.prng(s.ctlkey, LABEL, null, 16)).length, 16);
      assert.ok((await other.info(s.ctlkey, V2InfoKind.PEERCERT_SUBJECT)).length > 0);
      plain.write('after reattach\n');
      await plain.until('AFTER REATTACH\n');
    } finally {
      plain.destroy();
      v2.close();
      other.close();
    }
  });

  test('without FORK the session ends with its control connection; with FORK it is detached and can be reattached', async () => {
    const plainEnd = await toPeer(peer13);
    plainEnd.v2.close();
    await plainEnd.plain.untilEnd();
    plainEnd.plain.destroy();

    const forked = await toPeer(peer13, F.FORK);
    forked.v2.close();
    const again = V2Client.connect(pool.daemon.socket);
    try {
      // The pool learns of the close a moment later: until then the session is still attached.
      const deadline = Date.now() + HANG_GUARD_MS;
      for (;;) {
        const e = await again.reattach(forked.s.ctlkey).then(() => undefined, (err: unknown) => err);
        if (!e) break;
        assert.ok(Date.now() < deadline, `the FORK session was never detached: ${String(e)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      forked.plain.write('forked\n');
      await forked.plain.until('FORKED\n');
    } finally {
      forked.plain.destroy();
      again.close();
    }
  });

  test('DETACH from the start: no control connection; REATTACH takes it', async () => {
    const { v2, s, plain } = await toPeer(peer13, F.DETACH);
    try {
      assert.equal(v2Code(await rejection(v2.prng(s.ctlkey, LABEL, null, 16))), Tlsp.E_TLSPOOL_CTLKEY_NOT_FOUND);
      await v2.reattach(s.ctlkey);
      assert.equal((await v2.prng(s.ctlkey, LABEL, null, 16)).length, 16);
    } finally {
      plain.destroy();
      v2.close();
    }
  });

  test('DTLS over V2, pool to pool on connected UDP sockets: datagrams each way, one PRNG on both ends, the record says DTLS1.2', async () => {
    const [u1, u2] = [dgram.createSocket('udp4'), dgram.createSocket('udp4')];
    await Promise.all([u1, u2].map((u) => new Promise<void>((resolve) => u.bind(0, '127.0.0.1', resolve))));
    await new Promise<void>((resolve) => u1.connect(u2.address().port, '127.0.0.1', resolve));
    await new Promise<void>((resolve) => u2.connect(u1.address().port, '127.0.0.1', resolve));
    const [cfd, sfd] = [takeFd(u1), takeFd(u2)];
    const a = V2Client.connect(pool.daemon.socket);
    const b = V2Client.connect(pool.daemon.socket);
    try {
      const [cs, ss] = await Promise.all([
        a.starttls({ role: 'client', fd: cfd, ipproto: IpProto.UDP, localid: CLIENT_EMAIL, remoteid: SERVER_NAME }),
        b.starttls({ role: 'server', fd: sfd, ipproto: IpProto.UDP, localid: SERVER_NAME }),
      ]);
      assert.deepEqual([cs.localid, cs.remoteid, ss.localid, ss.remoteid], [CLIENT_EMAIL, SERVER_NAME, SERVER_NAME, CLIENT_EMAIL]);
      assert.deepEqual(await a.prng(cs.ctlkey, LABEL, CONTEXT, 32), await b.prng(ss.ctlkey, LABEL, CONTEXT, 32));
      const [cd, sd] = [new PlainDatagrams(cs.fd!), new PlainDatagrams(ss.fd!)];
      await exchangeDatagrams(cd, sd);
      const records = pool.connections().slice(0, 2);
      assert.deepEqual(records.map((r) => r.version), ['DTLS1.2', 'DTLS1.2']);
      cd.close();
      // The client's close_notify is the server application's end of stream.
      assert.equal((await sd.receive()).length, 0);
      sd.close();
    } finally {
      cfd.close();
      sfd.close();
      a.close();
      b.close();
    }
  });

  test('DTLS asked for a TCP socket, or UDP without DTLS, is refused with its tlsP code', async () => {
    const listener = await TcpListener.open();
    const v2 = V2Client.connect(pool.daemon.socket);
    const tcp = await tcpConnect(listener.port);
    const udp = await udpConnect(listener.port);
    try {
      const onTcp = await rejection(v2.starttls({ role: 'client', fd: tcp, remoteid: SERVER_NAME, flags: F.DTLS }));
      const onUdp = await rejection(v2.starttls({ role: 'client', fd: udp, remoteid: SERVER_NAME }));
      for (const [what, e] of [['DTLS on TCP', onTcp], ['TLS on UDP', onUdp]] as const) {
        assert.equal(typeof v2Code(e), 'number', `${what}: ${e.message}`);
        assert.match(e.message, /DTLS|UDP|datagram|stream/i, what);
      }
      // The connection goes on.
      assert.equal((await v2.ping()).identity.length > 0, true);
    } finally {
      tcp.close();
      udp.close();
      v2.close();
      await listener.close();
    }
  });
});
