/**
 * DNSSEC and DANE through a live daemon: a real authoritative server (Knot,
 * test/helpers/dns.ts) serves a signed zone, an insecure child and a bogus
 * one; the pool validates with libunbound from that zone's trust anchor, and
 * talks to real TLS servers (openssl s_server, gnutls-serv). Every case is
 * what the application sees: the STARTTLS answer or its ERROR, and the
 * connection record `tlspool connections` shows.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { StartTlsFlag } from '../../src/protocol';
import { blackHole, BOGUS_ZONE, type DnsRig, INSECURE_ZONE, startDnsRig, tlsaRecord } from '../../harness/dns';
import { tempDir } from '../../harness/daemon';
import { startGnutlsServer, startOpensslClient, startOpensslServer, type Peer } from '../../harness/peers';
import { type Cert, CLIENT_EMAIL, getPki, SERVER_NAME, type TestPki } from '../../harness/pki';
import { type Pool, rejection, startPool, TcpListener, tcpConnect, udpConnect } from '../../harness/starttls';

const INSECURE_HOST = `server.${INSECURE_ZONE}`;
const BOGUS_HOST = `server.${BOGUS_ZONE}`;

/** A server certificate for `host`, issued by the test CA (certtool, as pki.ts makes its own). */
function issue(dir: string, name: string, host: string, pki: TestPki, email?: string): { certPath: string; keyPath: string } {
  const keyPath = path.join(dir, `${name}.key`);
  const certPath = path.join(dir, `${name}.pem`);
  const tmpl = path.join(dir, `${name}.tmpl`);
  execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', keyPath]);
  const names = email ? `email = "${email}"\ntls_www_client\n` : `dns_name = "${host}"\ntls_www_server\n`;
  fs.writeFileSync(tmpl, `cn = "${host}"\n${names}signing_key\nexpiration_days = 30\n`);
  execFileSync('certtool', [
    '--generate-certificate', '--no-text', '--load-privkey', keyPath, '--load-ca-certificate', pki.ca.certPath,
    '--load-ca-privkey', pki.ca.keyPath, '--template', tmpl, '--outfile', certPath,
  ], { stdio: 'ignore' });
  return { certPath, keyPath };
}

describe('DNSSEC and DANE', () => {
  let pki: TestPki;
  let dns: DnsRig;
  let pool: Pool;
  let dir: string;
  let insecureCert: { certPath: string; keyPath: string };
  let bogusCert: { certPath: string; keyPath: string };
  const peers: Peer[] = [];
  const serve = async (cert: { certPath: string; keyPath: string }, chain?: string): Promise<Peer> => {
    const p = await startOpensslServer({ certPath: cert.certPath, keyPath: cert.keyPath, extraArgs: chain ? ['-cert_chain', chain] : [] });
    peers.push(p);
    return p;
  };
  /** STARTTLS_CLIENT to a peer; resolves with what the pool answered and the record it wrote. */
  const connect = async (port: number, remoteid: string, flags = 0) => {
    const fd = await tcpConnect(port);
    try {
      const r = await pool.client.starttls({ role: 'client', fd, remoteid, flags });
      r.fd.close();
      return { remoteid: r.remoteid, record: pool.connections()[0]! };
    } finally {
      fd.close();
    }
  };
  const refused = async (port: number, remoteid: string, flags = 0) => {
    const fd = await tcpConnect(port);
    try {
      const e = await rejection(pool.client.starttls({ role: 'client', fd, remoteid, flags }));
      return { error: e, record: pool.connections()[0]! };
    } finally {
      fd.close();
    }
  };

  before(async () => {
    pki = getPki();
    dir = tempDir('tlspool-dane-');
    insecureCert = issue(dir, 'insecure', INSECURE_HOST, pki);
    bogusCert = issue(dir, 'bogus', BOGUS_HOST, pki);
    dns = await startDnsRig();
    pool = await startPool({ trust: [pki.ca], dns: { trust_anchors: [dns.trustAnchor], stubs: dns.stubs, timeout: 5 } });
  });
  after(async () => {
    await Promise.all(peers.map((p) => p.stop()));
    await pool?.stop();
    await dns?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('DANE-EE: a self-signed certificate no trust anchor covers is accepted by its secure TLSA record', async () => {
    const s = await serve(pki.selfSigned);
    dns.setRecords('example.test', [tlsaRecord(pki.selfSigned.certPath, SERVER_NAME, s.port, { usage: 3, selector: 1, matching: 1 })]);
    const { remoteid, record } = await connect(s.port, SERVER_NAME);
    assert.equal(remoteid, SERVER_NAME);
    assert.equal(record.validation, 'DANE-EE matched');
    assert.equal(record.warning, undefined);
  });

  test('without its TLSA record the same self-signed certificate is refused (PKIX)', async () => {
    const s = await serve(pki.selfSigned);
    const { error, record } = await refused(s.port, SERVER_NAME);
    assert.equal(error.code, 'EACCES');
    assert.match(error.message, /self-signed and not trusted/);
    assert.equal(record.validation, 'PKIX, no TLSA (secure denial)');
  });

  test('DANE-EE on the whole certificate with SHA-512 (selector 0, matching 2)', async () => {
    const s = await serve(pki.selfSigned);
    dns.setRecords('example.test', [tlsaRecord(pki.selfSigned.certPath, SERVER_NAME, s.port, { usage: 3, selector: 0, matching: 2 })]);
    const { record } = await connect(s.port, SERVER_NAME);
    assert.equal(record.validation, 'DANE-EE matched');
  });

  test('a TLSA record that does not match refuses a certificate PKIX would accept', async () => {
    const s = await serve(pki.server);
    dns.setRecords('example.test', [tlsaRecord(pki.selfSigned.certPath, SERVER_NAME, s.port, { usage: 3, selector: 1, matching: 1 })]);
    const { error, record } = await refused(s.port, SERVER_NAME);
    assert.equal(error.code, 'EACCES');
    assert.match(error.message, /TLSA did not match/);
    assert.ok(Buffer.byteLength(error.message) <= 127, error.message);
    assert.equal(record.state, 'failed');
  });

  test('DANE-TA: a chain to the CA its TLSA names is accepted without the pool trusting that CA', async () => {
    const s = await serve(pki.server, pki.ca.certPath);
    dns.setRecords('example.test', [tlsaRecord(pki.ca.certPath, SERVER_NAME, s.port, { usage: 2, selector: 0, matching: 1 })]);
    // The pool trusts pki.ca through `tlspool trust`; remove it so only DANE can vouch.
    const fp = pool.cli(['trust', 'list']).match(/^[0-9a-f]{16}/m)![0];
    pool.cli(['trust', 'remove', fp]);
    try {
      const { record } = await connect(s.port, SERVER_NAME, StartTlsFlag.IGNORE_CACHES);
      assert.equal(record.validation, 'DANE-TA matched');
    } finally {
      pool.cli(['trust', 'add', pki.ca.certPath]);
    }
  });

  test('DANE-TA: a certificate for another name under the same TA is refused', async () => {
    const s = await serve(pki.server2, pki.ca.certPath);
    dns.setRecords('example.test', [tlsaRecord(pki.ca.certPath, SERVER_NAME, s.port, { usage: 2, selector: 1, matching: 1 })]);
    const { error } = await refused(s.port, SERVER_NAME);
    assert.equal(error.code, 'EACCES');
    assert.match(error.message, /TLSA did not match.*not for server\.example\.test/);
  });

  test('PKIX-EE: a matching record adds to PKIX, and does not replace it', async () => {
    const good = await serve(pki.server);
    const self = await serve(pki.selfSigned);
    dns.setRecords('example.test', [
      tlsaRecord(pki.server.certPath, SERVER_NAME, good.port, { usage: 1, selector: 1, matching: 1 }),
      tlsaRecord(pki.selfSigned.certPath, SERVER_NAME, self.port, { usage: 1, selector: 1, matching: 1 }),
    ]);
    assert.equal((await connect(good.port, SERVER_NAME)).record.validation, 'PKIX-EE matched');
    const { error } = await refused(self.port, SERVER_NAME);
    assert.match(error.message, /self-signed and not trusted/);
  });

  test('secure NODATA (the name exists, no TLSA): PKIX as without DNS', async () => {
    const s = await serve(pki.server);
    dns.setRecords('example.test', [`_${s.port}._tcp.server TXT "no TLSA here"`]);
    const { record } = await connect(s.port, SERVER_NAME);
    assert.equal(record.validation, 'PKIX, no TLSA (secure denial)');
  });

  test('an insecure zone: PKIX, and refused under REQUIRE_DNSSEC', async () => {
    const s = await serve(insecureCert);
    const { record } = await connect(s.port, INSECURE_HOST);
    assert.equal(record.validation, 'PKIX, zone insecure');
    const { error, record: r2 } = await refused(s.port, INSECURE_HOST, StartTlsFlag.REQUIRE_DNSSEC);
    assert.equal(error.code, 'EACCES');
    assert.match(error.message, /REQUIRE_DNSSEC: the zone of .* is not signed/);
    assert.equal(r2.validation, 'refused, zone insecure');
  });

  test('REQUIRE_DNSSEC is met by a secure zone', async () => {
    const s = await serve(pki.server);
    const { record } = await connect(s.port, SERVER_NAME, StartTlsFlag.REQUIRE_DNSSEC);
    assert.equal(record.validation, 'PKIX, no TLSA (secure denial)');
  });

  test('a bogus zone is refused, even for a certificate PKIX accepts', async () => {
    const s = await serve(bogusCert);
    dns.setRecords('bogus.example.test', [tlsaRecord(bogusCert.certPath, BOGUS_HOST, s.port, { usage: 3, selector: 1, matching: 1 })]);
    const { error, record } = await refused(s.port, BOGUS_HOST);
    assert.equal(error.code, 'EBADMSG');
    assert.match(error.message, /bogus/);
    assert.equal(record.validation, 'refused, DNS bogus');
  });

  test('IGNORE_CACHES sees a changed TLSA record at once; without it the cached one stands', async () => {
    const s = await serve(pki.selfSigned);
    const owner = (cert: Cert) => tlsaRecord(cert.certPath, SERVER_NAME, s.port, { usage: 3, selector: 1, matching: 1 });
    dns.setRecords('example.test', [owner(pki.selfSigned)]);
    assert.equal((await connect(s.port, SERVER_NAME)).record.validation, 'DANE-EE matched');
    dns.setRecords('example.test', [owner(pki.server2)]);
    assert.equal((await connect(s.port, SERVER_NAME)).record.validation, 'DANE-EE matched', 'the cached TLSA still matches');
    const { error } = await refused(s.port, SERVER_NAME, StartTlsFlag.IGNORE_CACHES);
    assert.match(error.message, /TLSA did not match/);
  });

  test('a server under REQUIRE_DNSSEC accepts a client of a secure domain and refuses one of an insecure domain', async () => {
    const bob = `bob@${INSECURE_ZONE}`;
    const bobCert = issue(dir, 'bob', 'bob', pki, bob);
    const server = await startPool({
      identities: [[SERVER_NAME, pki.server]],
      trust: [pki.ca],
      dns: { trust_anchors: [dns.trustAnchor], stubs: dns.stubs, timeout: 5 },
    });
    const listener = await TcpListener.open();
    const accept = async (remoteid: string, cert: { certPath: string; keyPath: string }) => {
      const c = startOpensslClient({ port: listener.port, serverName: SERVER_NAME, caPath: pki.ca.certPath, ...cert });
      peers.push(c);
      const fd = await listener.accept();
      try {
        return await server.client.starttls({ role: 'server', fd, localid: SERVER_NAME, remoteid, flags: StartTlsFlag.REQUIRE_DNSSEC });
      } finally {
        fd.close();
      }
    };
    try {
      const r = await accept(CLIENT_EMAIL, { certPath: pki.client.certPath, keyPath: pki.client.keyPath });
      r.fd.close();
      assert.equal(r.remoteid, CLIENT_EMAIL);
      assert.equal(server.connections()[0]!.validation, 'PKIX, client zone secure');
      const e = await rejection(accept(bob, bobCert));
      assert.equal(e.code, 'EACCES');
      assert.match(e.message, /REQUIRE_DNSSEC: the zone of insecure\.example\.test is not signed/);
    } finally {
      await listener.close();
      await server.stop();
    }
  });

  test('DTLS looks up _PORT._udp', async () => {
    const s = await startGnutlsServer({ certPath: pki.selfSigned.certPath, keyPath: pki.selfSigned.keyPath, udp: true, echo: true });
    peers.push(s);
    dns.setRecords('example.test', [tlsaRecord(pki.selfSigned.certPath, SERVER_NAME, s.port, { usage: 3, selector: 1, matching: 1 }, 'udp')]);
    const fd = await udpConnect(s.port);
    try {
      const r = await pool.client.starttls({ role: 'client', fd, remoteid: SERVER_NAME, flags: StartTlsFlag.DTLS, ipproto: 17 });
      r.fd.close();
    } finally {
      fd.close();
    }
    assert.equal(pool.connections()[0]!.validation, 'DANE-EE matched');
    // The same record under _tcp does not serve DTLS: a TCP TLSA for this port is not looked at.
    dns.setRecords('example.test', [tlsaRecord(pki.selfSigned.certPath, SERVER_NAME, s.port, { usage: 3, selector: 1, matching: 1 })]);
    const fd2 = await udpConnect(s.port);
    try {
      const e = await rejection(pool.client.starttls({ role: 'client', fd: fd2, remoteid: SERVER_NAME, flags: StartTlsFlag.DTLS | StartTlsFlag.IGNORE_CACHES, ipproto: 17 }));
      assert.match(e.message, /self-signed and not trusted/);
    } finally {
      fd2.close();
    }
  });
});

describe('DNSSEC and DANE with the resolver down', () => {
  let pki: TestPki;
  let hole: Awaited<ReturnType<typeof blackHole>>;
  let trustAnchor: string;
  const pools: Pool[] = [];
  const peers: Peer[] = [];
  let dir: string;

  before(async () => {
    pki = getPki();
    hole = await blackHole();
    // Any DNSKEY will do: no answer ever comes to be validated with it.
    dir = tempDir('tlspool-dane-down-');
    trustAnchor = path.join(dir, 'anchor.key');
    fs.writeFileSync(trustAnchor, 'example.test. 300 IN DNSKEY 257 3 13 mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ==\n');
  });
  after(async () => {
    await Promise.all(peers.map((p) => p.stop()));
    await Promise.all(pools.map((p) => p.stop()));
    await hole.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const downPool = async (dns: Record<string, unknown> = {}, port = hole.port) => {
    const p = await startPool({
      trust: [pki.ca],
      dns: { trust_anchors: [trustAnchor], stubs: { 'example.test': [`127.0.0.1@${port}`] }, timeout: 1, ...dns },
    });
    pools.push(p);
    return p;
  };
  const server = async () => {
    const s = await startOpensslServer({ certPath: pki.server.certPath, keyPath: pki.server.keyPath });
    peers.push(s);
    return s;
  };
  const starttls = async (pool: Pool, port: number, flags = 0) => {
    const fd = await tcpConnect(port);
    try {
      const r = await pool.client.starttls({ role: 'client', fd, remoteid: SERVER_NAME, flags });
      r.fd.close();
    } finally {
      fd.close();
    }
  };
  const failures = (pool: Pool) => pool.daemon.logs().split('\n').filter((l) => l.includes('"msg":"DNS lookup failed"')).length;

  test('PKIX with a warning; a second handshake does not wait for the dead resolver again', async () => {
    const pool = await downPool();
    const first = await server();
    await starttls(pool, first.port);
    const r1 = pool.connections()[0]!;
    assert.equal(r1.validation, 'PKIX, DNS indeterminate');
    assert.match(r1.warning ?? '', /no DNS answer for TLSA _\d+\._tcp\.server\.example\.test: no answer within 1 s; validated with PKIX only/);
    assert.ok(hole.queries() > 0, 'the pool asked the dead server');
    assert.match(pool.cli(['connections']), /warning: no DNS answer/);
    // Another port, another name: the resolver is still taken to be down, so no new lookup goes out.
    const second = await server();
    await starttls(pool, second.port);
    const r2 = pool.connections()[0]!;
    assert.equal(r2.validation, 'PKIX, DNS indeterminate');
    assert.match(r2.warning ?? '', /the resolver did not answer lately/);
    assert.equal(failures(pool), 1, pool.daemon.logs());
    assert.match(pool.daemon.logs(), /"msg":"going on without a check the peer could have had".*"warning":"[^"]*DNS/);
  });

  test('REQUIRE_DNSSEC with no DNS answer is refused', async () => {
    const pool = await downPool();
    const s = await server();
    const fd = await tcpConnect(s.port);
    const e = await rejection(pool.client.starttls({ role: 'client', fd, remoteid: SERVER_NAME, flags: StartTlsFlag.REQUIRE_DNSSEC }));
    fd.close();
    assert.equal(e.code, 'ENODATA');
    assert.match(e.message, /no DNS answer for _\d+\._tcp\.server\.example\.test/);
  });

  test('dns.unreachable: refuse refuses without REQUIRE_DNSSEC too', async () => {
    const pool = await downPool({ unreachable: 'refuse' });
    const s = await server();
    const fd = await tcpConnect(s.port);
    const e = await rejection(pool.client.starttls({ role: 'client', fd, remoteid: SERVER_NAME }));
    fd.close();
    assert.equal(e.code, 'ENODATA');
  });

  test('dns.enabled: false refuses REQUIRE_DNSSEC with EOPNOTSUPP and looks nothing up', async () => {
    // A server of its own: the other pools' resolvers may still be retrying theirs.
    const own = await blackHole();
    const pool = await downPool({ enabled: false }, own.port);
    const s = await server();
    const fd = await tcpConnect(s.port);
    const e = await rejection(pool.client.starttls({ role: 'client', fd, remoteid: SERVER_NAME, flags: StartTlsFlag.REQUIRE_DNSSEC }));
    fd.close();
    assert.equal(e.code, 'EOPNOTSUPP');
    assert.match(e.message, /dns\.enabled: false/);
    await starttls(pool, s.port);
    assert.equal(pool.connections()[0]!.validation, 'PKIX');
    assert.equal(own.queries(), 0);
    await own.close();
  });
});
