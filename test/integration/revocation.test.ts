/**
 * Revocation beyond CRL files, through live daemons: OCSP responses made by
 * `openssl ocsp` from an index.txt CA database and stapled by `openssl
 * s_server -status_file`; CRLs served by a node HTTP server on loopback (its
 * requests counted, to see the cache); the pool as a server stapling the
 * response configured for its identity, seen by `openssl s_client -status`
 * and by a pool client. Every case is what the application sees: the
 * STARTTLS answer or its ERROR, and the connection record.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { StartTlsFlag } from '../../src/protocol';
import { tempDir } from '../../harness/daemon';
import { createRevocationPki, type CrlServer, type RevocationPki, startCrlServer } from '../../harness/ocsp';
import { freePort, startOpensslClient, startOpensslServer, type Peer } from '../../harness/peers';
import { type Cert, SERVER_NAME } from '../../harness/pki';
import { type Pool, poolToPool, rejection, startPool, TcpListener, tcpConnect } from '../../harness/starttls';

const NO_DNS = { enabled: false };

describe('revocation: OCSP stapling, CRL distribution points, soft and hard fail', () => {
  let dir: string;
  let rpki: RevocationPki;
  let crl: CrlServer;
  /** Where nothing listens: a closed port. */
  let deadUrl: string;
  const peers: Peer[] = [];
  const pools: Pool[] = [];

  const pool = async (revocation?: Record<string, unknown>, identities?: Array<[string, Cert]>): Promise<Pool> => {
    const p = await startPool({ trust: [rpki.ca], dns: NO_DNS, ...(revocation ? { revocation } : {}), ...(identities ? { identities } : {}) });
    pools.push(p);
    return p;
  };
  const serve = async (cert: Cert, staple?: Buffer, version?: '1.2' | '1.3'): Promise<Peer> => {
    const extraArgs: string[] = [];
    if (staple) {
      const file = path.join(dir, `served-${peers.length}.der`);
      fs.writeFileSync(file, staple);
      extraArgs.push('-status_file', file);
    }
    const s = await startOpensslServer({ certPath: cert.certPath, keyPath: cert.keyPath, extraArgs, ...(version ? { version } : {}) });
    peers.push(s);
    return s;
  };
  const connect = async (p: Pool, port: number, flags = 0) => {
    const fd = await tcpConnect(port);
    try {
      const r = await p.client.starttls({ role: 'client', fd, remoteid: SERVER_NAME, flags });
      r.fd.close();
      return p.connections()[0]!;
    } finally {
      fd.close();
    }
  };
  const refused = async (p: Pool, port: number) => {
    const fd = await tcpConnect(port);
    try {
      const error = await rejection(p.client.starttls({ role: 'client', fd, remoteid: SERVER_NAME }));
      assert.ok(Buffer.byteLength(error.message) <= 127, error.message);
      return { error, record: p.connections()[0]! };
    } finally {
      fd.close();
    }
  };

  before(async () => {
    dir = tempDir('tlspool-revocation-');
    crl = await startCrlServer();
    deadUrl = `http://127.0.0.1:${await freePort()}/dead.crl`;
    rpki = createRevocationPki(path.join(dir, 'pki'), { crlUrl: crl.url, deadUrl });
    crl.serve(rpki.crlDer);
  });
  after(async () => {
    await Promise.all(peers.map((p) => p.stop()));
    for (const p of pools) await p.stop();
    await crl?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  describe('stapled OCSP (checked whatever the configuration)', () => {
    let p: Pool;
    before(async () => {
      p = await pool();
    });

    for (const version of ['1.3', '1.2'] as const) {
      test(`a good stapled response is accepted and recorded (TLS ${version})`, async () => {
        const s = await serve(rpki.good, rpki.ocspFor(rpki.good), version);
        const record = await connect(p, s.port);
        assert.equal(record.validation, 'PKIX, OCSP good (stapled)');
        assert.equal(record.warning, undefined);
      });

      test(`a stapled response that says revoked is refused with EKEYREVOKED (TLS ${version})`, async () => {
        const s = await serve(rpki.revoked, rpki.ocspFor(rpki.revoked), version);
        const { error, record } = await refused(p, s.port);
        assert.equal(error.code, 'EKEYREVOKED');
        assert.match(error.message, /has been revoked \(stapled OCSP\)/);
        assert.equal(record.state, 'failed');
        assert.equal(record.validation, 'refused, revoked');
      });
    }

    test('a stapled response about another certificate is refused', async () => {
      const s = await serve(rpki.good, rpki.ocspFor(rpki.mustStaple));
      const { error } = await refused(p, s.port);
      assert.equal(error.code, 'EACCES');
      assert.match(error.message, /stapled OCSP response .* is not valid: it is about another certificate/);
    });

    test('a must-staple certificate without a staple is refused; with a good one it is accepted', async () => {
      const bare = await serve(rpki.mustStaple);
      const { error } = await refused(p, bare.port);
      assert.equal(error.code, 'EACCES');
      assert.match(error.message, /must come with OCSP \(must-staple\): none was stapled/);
      const stapled = await serve(rpki.mustStaple, rpki.ocspFor(rpki.mustStaple));
      assert.equal((await connect(p, stapled.port)).validation, 'PKIX, OCSP good (stapled)');
    });

    test('without a staple and with revocation.crldp off, nothing is fetched and no warning is given', async () => {
      const before = crl.hits;
      const s = await serve(rpki.revoked);
      const record = await connect(p, s.port);
      assert.equal(record.validation, 'PKIX');
      assert.equal(record.warning, undefined);
      assert.equal(crl.hits, before);
    });
  });

  describe('CRL distribution points (revocation.crldp: true)', () => {
    test('the fetched CRL revokes; a second handshake uses the cached CRL; IGNORE_CACHES fetches again', async () => {
      const p = await pool({ crldp: true, fetch_timeout: 10 });
      const s = await serve(rpki.revoked);
      const before = crl.hits;
      const first = await refused(p, s.port);
      assert.equal(first.error.code, 'EKEYREVOKED');
      assert.match(first.error.message, /has been revoked \(CRL from http:/);
      assert.equal(crl.hits, before + 1);
      const second = await refused(p, s.port);
      assert.equal(second.error.code, 'EKEYREVOKED');
      assert.equal(crl.hits, before + 1, 'the second handshake fetched the CRL again');
      const good = await serve(rpki.good);
      const record = await connect(p, good.port);
      assert.equal(record.validation, `PKIX, CRL from ${crl.url} (cached)`);
      assert.equal(crl.hits, before + 1);
      await connect(p, good.port, StartTlsFlag.IGNORE_CACHES);
      assert.equal(crl.hits, before + 2);
    });

    test('a CRL signed by another CA does not count: soft fail accepts with a warning', async () => {
      const other = await startCrlServer();
      try {
        other.serve(rpki.otherCrlDer);
        const cert = createRevocationPki(path.join(dir, 'pki-other'), { crlUrl: other.url, deadUrl });
        const p = await startPool({ trust: [cert.ca], dns: NO_DNS, revocation: { crldp: true } });
        pools.push(p);
        const s = await serve(cert.good);
        const record = await connect(p, s.port);
        assert.equal(record.validation, 'PKIX, revocation unknown');
        assert.match(record.warning ?? '', /revocation unknown: CRL from .* is not valid: it is issued by another CA/);
      } finally {
        await other.stop();
      }
    });

    test('an unreachable CRL under soft fail: accepted, with the warning in the record', async () => {
      const p = await pool({ crldp: true, unreachable: 'soft' });
      const s = await serve(rpki.unreachable);
      const record = await connect(p, s.port);
      assert.notEqual(record.state, 'failed');
      assert.equal(record.validation, 'PKIX, revocation unknown');
      assert.match(record.warning ?? '', /^revocation unknown: CRL from http:\/\/127\.0\.0\.1:\d+\/dead\.crl: cannot fetch it \(ECONNREFUSED\)/);
    });

    test('an unreachable CRL under hard fail: refused with ENODATA', async () => {
      const p = await pool({ crldp: true, unreachable: 'hard' });
      const s = await serve(rpki.unreachable);
      const { error, record } = await refused(p, s.port);
      assert.equal(error.code, 'ENODATA');
      assert.match(error.message, /no revocation data for .*revocation\.unreachable: hard/);
      assert.equal(record.state, 'failed');
      assert.equal(record.validation, 'refused, revocation unknown');
    });

    test('a CRL server that never answers costs revocation.fetch_timeout, then the failure is remembered', async () => {
      const silent = net.createServer(() => {});
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      let accepted = 0;
      silent.on('connection', (c) => {
        accepted++;
        c.on('error', () => {});
      });
      try {
        const url = `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}/rca.crl`;
        const cert = createRevocationPki(path.join(dir, 'pki-silent'), { crlUrl: url, deadUrl });
        const p = await startPool({ trust: [cert.ca], dns: NO_DNS, revocation: { crldp: true, fetch_timeout: 1 } });
        pools.push(p);
        const s = await serve(cert.good);
        const first = await connect(p, s.port);
        assert.match(first.warning ?? '', /no answer within 1 s/);
        const second = await connect(p, s.port);
        assert.match(second.warning ?? '', /\(cached\): no answer within 1 s/);
        assert.equal(accepted, 1);
      } finally {
        silent.close();
      }
    });
  });

  describe('the pool as a server staples the response configured for its identity', () => {
    let p: Pool;
    before(async () => {
      p = await pool({ ocsp_files: { [SERVER_NAME]: rpki.ocspFile(rpki.mustStaple) } }, [[SERVER_NAME, rpki.mustStaple]]);
    });

    test('openssl s_client -status sees the response', async () => {
      const listener = await TcpListener.open();
      try {
        const c = startOpensslClient({ port: listener.port, serverName: SERVER_NAME, caPath: rpki.ca.certPath, extraArgs: ['-status'] });
        peers.push(c);
        const fd = await listener.accept();
        try {
          const r = await p.client.starttls({ role: 'server', fd, localid: SERVER_NAME, flags: StartTlsFlag.IGNORE_REMOTEID });
          r.fd.close();
        } finally {
          fd.close();
        }
        const out = await c.waitFor(/Cert Status: good/);
        assert.match(out, /OCSP Response Status: successful/);
        assert.doesNotMatch(out, /no response sent/);
      } finally {
        await listener.close();
      }
    });

    test('a pool client accepts the must-staple identity with its staple', async () => {
      const listener = await TcpListener.open();
      try {
        const [client] = await poolToPool(p, listener, { remoteid: SERVER_NAME }, { localid: SERVER_NAME, flags: StartTlsFlag.IGNORE_REMOTEID });
        client.fd.close();
        const record = p.connections().find((r) => r.role === 'client');
        assert.equal(record?.validation, 'PKIX, OCSP good (stapled)');
      } finally {
        await listener.close();
      }
    });
  });
});
