/**
 * The global directory as a trust path, through a live daemon: real slapd
 * directories (harness/ldap.ts; one plain, one with StartTLS whose
 * certificate has a TLSA record under one name and none under the other),
 * found by the _ldap._tcp SRV records of a signed Knot zone (and of a bogus
 * one), and real openssl clients with self-signed user certificates. Each
 * case is what the application sees: the STARTTLS answer or its ERROR, and
 * the connection record.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { StartTlsFlag } from '../../src/protocol';
import { BOGUS_ZONE, type DnsRig, srvRecord, startDnsRig, tlsaRecord } from '../../harness/dns';
import { tempDir } from '../../harness/daemon';
import { type LdapServer, startLdap } from '../../harness/ldap';
import { freePort, startOpensslClient, type Peer } from '../../harness/peers';
import { getPki, SERVER_NAME, type TestPki } from '../../harness/pki';
import { type Pool, rejection, startPool, TcpListener } from '../../harness/starttls';

interface UserCert {
  certPath: string;
  keyPath: string;
  der: Buffer;
}

/** A self-signed client certificate for an e-mail address, as a user would make one. */
function selfSigned(dir: string, email: string, name = email): UserCert {
  const keyPath = path.join(dir, `${name}.key`);
  const certPath = path.join(dir, `${name}.pem`);
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyPath, '-out', certPath,
    '-days', '30', '-subj', `/CN=${email}`, '-addext', `subjectAltName=email:${email}`, '-addext', 'extendedKeyUsage=clientAuth',
  ], { stdio: 'ignore' });
  const der = Buffer.from(fs.readFileSync(certPath, 'utf8').replace(/-----[^-]+-----|\s/g, ''), 'base64');
  return { certPath, keyPath, der };
}

/** A server certificate for the directory hosts, issued by the test CA. */
function directoryCert(dir: string, pki: TestPki, hosts: string[]): { certPath: string; keyPath: string } {
  const keyPath = path.join(dir, 'slapd.key');
  const certPath = path.join(dir, 'slapd.pem');
  const tmpl = path.join(dir, 'slapd.tmpl');
  execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', keyPath]);
  fs.writeFileSync(tmpl, `cn = "${hosts[0]}"\n${hosts.map((h) => `dns_name = "${h}"`).join('\n')}\ntls_www_server\nsigning_key\nexpiration_days = 30\n`);
  execFileSync('certtool', [
    '--generate-certificate', '--no-text', '--load-privkey', keyPath, '--load-ca-certificate', pki.ca.certPath,
    '--load-ca-privkey', pki.ca.keyPath, '--template', tmpl, '--outfile', certPath,
  ], { stdio: 'ignore' });
  fs.chmodSync(keyPath, 0o644);
  return { certPath, keyPath };
}

const PLAIN = 'example.test';
const TLS = 'tls.example.test';
const NOTLSA = 'notlsa.example.test';
const BOGUS = BOGUS_ZONE;

describe('the global directory as a trust path', () => {
  let pki: TestPki;
  let dns: DnsRig;
  let plain: LdapServer;
  let secure: LdapServer;
  let pool: Pool;
  let dir: string;
  let listener: TcpListener;
  let hang: net.Server;
  const certs: Record<string, UserCert> = {};
  const peers: Peer[] = [];

  /** A client presenting `cert` to the pool as a STARTTLS_SERVER that expects `remoteid`. */
  const accept = async (p: Pool, remoteid: string, cert: UserCert, flags = 0) => {
    const c = startOpensslClient({ port: listener.port, serverName: SERVER_NAME, certPath: cert.certPath, keyPath: cert.keyPath });
    peers.push(c);
    const fd = await listener.accept();
    try {
      const r = await p.client.starttls({ role: 'server', fd, localid: SERVER_NAME, remoteid, flags });
      r.fd.close();
      return { remoteid: r.remoteid, record: p.connections()[0]! };
    } finally {
      fd.close();
    }
  };
  const refused = async (p: Pool, remoteid: string, cert: UserCert, flags = 0) => {
    const c = startOpensslClient({ port: listener.port, serverName: SERVER_NAME, certPath: cert.certPath, keyPath: cert.keyPath });
    peers.push(c);
    const fd = await listener.accept();
    try {
      const error = await rejection(p.client.starttls({ role: 'server', fd, localid: SERVER_NAME, remoteid, flags }));
      return { error, record: p.connections()[0]! };
    } finally {
      fd.close();
    }
  };

  before(async () => {
    pki = getPki();
    dir = tempDir('tlspool-directory-');
    for (const [name, email] of [
      ['alice', `alice@${PLAIN}`], ['bob', `bob@${PLAIN}`], ['carol', `carol@${PLAIN}`], ['stranger', `alice@${PLAIN}`],
      ['tlsAlice', `alice@${TLS}`], ['notlsaAlice', `alice@${NOTLSA}`], ['bogusAlice', `alice@${BOGUS}`],
      ['downAlice', 'alice@down.example.test'], ['hangAlice', 'alice@hang.example.test'],
    ] as const) certs[name] = selfSigned(dir, email, name);
    plain = await startLdap({
      suffixes: {
        'dc=example,dc=test': [
          { uid: 'alice', certificates: [certs.alice!.der] },
          { uid: 'bob', certificates: [certs.bob!.der] },
          { uid: 'dave', certificates: [] },
        ],
        'dc=bogus,dc=example,dc=test': [{ uid: 'alice', certificates: [certs.bogusAlice!.der] }],
      },
    });
    const slapdCert = directoryCert(dir, pki, [`ldap.${TLS}`, `ldap.${NOTLSA}`]);
    secure = await startLdap({
      suffixes: {
        'dc=tls,dc=example,dc=test': [{ uid: 'alice', certificates: [certs.tlsAlice!.der] }],
        'dc=notlsa,dc=example,dc=test': [{ uid: 'alice', certificates: [certs.notlsaAlice!.der] }],
      },
      tls: slapdCert,
    });
    dns = await startDnsRig();
    dns.setRecords('example.test', [
      srvRecord('_ldap._tcp', `ldap.${PLAIN}`, plain.port),
      'ldap A 127.0.0.1',
      srvRecord('_ldap._tcp.tls', `ldap.${TLS}`, secure.port),
      'ldap.tls A 127.0.0.1',
      srvRecord('_ldap._tcp.notlsa', `ldap.${NOTLSA}`, secure.port),
      'ldap.notlsa A 127.0.0.1',
      tlsaRecord(slapdCert.certPath, `ldap.${TLS}`, secure.port, { usage: 3, selector: 1, matching: 1 }),
    ]);
    dns.setRecords(BOGUS_ZONE, [srvRecord('_ldap._tcp', `ldap.${BOGUS}`, plain.port), 'ldap A 127.0.0.1']);
    // A directory that takes the connection and never says a word.
    hang = net.createServer(() => {});
    await new Promise<void>((r) => hang.listen(0, '127.0.0.1', () => r()));
    const downPort = await freePort('tcp');
    listener = await TcpListener.open();
    pool = await startPool({
      identities: [[SERVER_NAME, pki.server]],
      trust: [pki.ca],
      dns: { trust_anchors: [dns.trustAnchor], stubs: dns.stubs, timeout: 5 },
      ldap: {
        directory: true,
        timeout: 2,
        directories: {
          'down.example.test': `ldap://127.0.0.1:${downPort}`,
          'hang.example.test': `ldap://127.0.0.1:${(hang.address() as net.AddressInfo).port}`,
        },
      },
    });
  });
  after(async () => {
    await Promise.all(peers.map((p) => p.stop()));
    await pool?.stop();
    await listener?.close();
    hang?.close();
    await plain?.stop();
    await secure?.stop();
    await dns?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a self-signed certificate the directory publishes for the user is accepted', async () => {
    const { remoteid, record } = await accept(pool, `alice@${PLAIN}`, certs.alice!);
    assert.equal(remoteid, `alice@${PLAIN}`);
    assert.equal(record.validation, `authenticated by the directory of ${PLAIN} (plain LDAP)`);
  });

  test('with no remoteid, the certificate\'s e-mail address names the user to look up', async () => {
    const { remoteid, record } = await accept(pool, '', certs.bob!);
    assert.equal(remoteid, `bob@${PLAIN}`);
    assert.equal(record.validation, `authenticated by the directory of ${PLAIN} (plain LDAP)`);
  });

  test('a certificate the directory does not publish is refused', async () => {
    const { error, record } = await refused(pool, `alice@${PLAIN}`, certs.stranger!);
    assert.equal(error.code, 'EACCES');
    assert.match(error.message, /directory of example\.test publishes another certificate for alice/);
    assert.ok(Buffer.byteLength(error.message) <= 127, error.message);
    assert.equal(record.validation, 'refused, not published in the directory');
  });

  test('a user with an entry and no certificate is refused', async () => {
    const { error } = await refused(pool, `dave@${PLAIN}`, certs.stranger!);
    assert.equal(error.code, 'EACCES');
    assert.match(error.message, /the directory of example\.test publishes no certificate for dave/);
  });

  test('another user\'s published certificate is refused', async () => {
    const { error } = await refused(pool, `alice@${PLAIN}`, certs.bob!);
    assert.equal(error.code, 'EACCES');
    assert.match(error.message, /publishes another certificate for alice/);
  });

  test('REQUIRE_LDAP_CERT refuses what a plain directory publishes', async () => {
    const { error, record } = await refused(pool, `alice@${PLAIN}`, certs.alice!, StartTlsFlag.REQUIRE_LDAP_CERT);
    assert.equal(error.code, 'EACCES');
    assert.match(error.message, /REQUIRE_LDAP_CERT: the directory of example\.test is not trusted \(reached over plain LDAP\)/);
    assert.equal(record.validation, 'refused, REQUIRE_LDAP_CERT');
  });

  test('REQUIRE_LDAP_CERT is met by a StartTLS directory whose certificate validates', async () => {
    const { record } = await accept(pool, `alice@${NOTLSA}`, certs.notlsaAlice!, StartTlsFlag.REQUIRE_LDAP_CERT);
    assert.equal(record.validation, `authenticated by the directory of ${NOTLSA} (LDAP over TLS)`);
  });

  test('REQUIRE_LDAP_DANE is met when a secure TLSA record matches the directory', async () => {
    const { record } = await accept(pool, `alice@${TLS}`, certs.tlsAlice!, StartTlsFlag.REQUIRE_LDAP_DANE);
    assert.equal(record.validation, `authenticated by the directory of ${TLS} (DANE)`);
    const both = await accept(pool, `alice@${TLS}`, certs.tlsAlice!, StartTlsFlag.REQUIRE_LDAP_CERT | StartTlsFlag.REQUIRE_LDAP_DANE);
    assert.equal(both.record.validation, `authenticated by the directory of ${TLS} (DANE)`);
  });

  test('REQUIRE_LDAP_DANE without a TLSA record for the directory is refused', async () => {
    const { error, record } = await refused(pool, `alice@${NOTLSA}`, certs.notlsaAlice!, StartTlsFlag.REQUIRE_LDAP_DANE);
    assert.equal(error.code, 'EACCES');
    assert.match(error.message, /REQUIRE_LDAP_DANE: directory ldap\.notlsa\.example\.test not DANE-verified \(no TLSA record\)/);
    assert.equal(record.validation, 'refused, REQUIRE_LDAP_DANE');
  });

  test('an SRV record in a bogus zone is refused', async () => {
    const { error, record } = await refused(pool, `alice@${BOGUS}`, certs.bogusAlice!);
    assert.equal(error.code, 'EBADMSG');
    assert.match(error.message, /_ldap\._tcp\.bogus\.example\.test is bogus/);
    assert.equal(record.validation, 'refused, directory not reached');
  });

  test('a directory that is down is refused at once, saying so', async () => {
    const { error, record } = await refused(pool, 'alice@down.example.test', certs.downAlice!);
    assert.equal(error.code, 'ECONNREFUSED');
    assert.match(error.message, /the directory of down\.example\.test \(127\.0\.0\.1:\d+\) refused the connection/);
    assert.equal(record.validation, 'refused, directory not reached');
    assert.match(pool.daemon.logs(), /"msg":"directory lookup failed".*"domain":"down\.example\.test"/);
  });

  test('a directory that never answers is refused after ldap.timeout, not left hanging', async () => {
    const { error } = await refused(pool, 'alice@hang.example.test', certs.hangAlice!);
    assert.equal(error.code, 'ETIMEDOUT');
    assert.match(error.message, /the directory of hang\.example\.test \(127\.0\.0\.1:\d+\) did not answer within 2 s/);
    // The failure is remembered: the next handshake is refused the same way without asking (one wait per minute, not per handshake) ...
    const failures = () => (pool.daemon.logs().match(/"msg":"directory lookup failed".*"domain":"hang\.example\.test"/g) ?? []).length;
    const asked = failures();
    assert.equal((await refused(pool, 'alice@hang.example.test', certs.hangAlice!)).error.message, error.message);
    assert.equal(failures(), asked, 'the remembered failure did not ask the directory again');
    // ... and IGNORE_CACHES asks again.
    assert.equal((await refused(pool, 'alice@hang.example.test', certs.hangAlice!, StartTlsFlag.IGNORE_CACHES)).error.code, 'ETIMEDOUT');
    assert.equal(failures(), asked + 1);
    // The pool still serves: the next peer is judged as before.
    assert.equal((await accept(pool, `alice@${PLAIN}`, certs.alice!)).record.validation, `authenticated by the directory of ${PLAIN} (plain LDAP)`);
  });

  test('the answer is cached; IGNORE_CACHES sees a certificate published since', async () => {
    const first = await refused(pool, `carol@${PLAIN}`, certs.carol!);
    assert.match(first.error.message, /has no entry for carol/);
    plain.publish('dc=example,dc=test', { uid: 'carol', certificates: [certs.carol!.der] });
    const cached = await refused(pool, `carol@${PLAIN}`, certs.carol!);
    assert.match(cached.error.message, /has no entry for carol/, 'the cached answer stands');
    const { record } = await accept(pool, `carol@${PLAIN}`, certs.carol!, StartTlsFlag.IGNORE_CACHES);
    assert.equal(record.validation, `authenticated by the directory of ${PLAIN} (plain LDAP)`);
  });

  test('a peer PKIX accepts is not looked up', async () => {
    const before = (pool.daemon.logs().match(/"msg":"directory searched"/g) ?? []).length;
    const { record } = await accept(pool, 'alice@example.test', { certPath: pki.client.certPath, keyPath: pki.client.keyPath, der: pki.client.der });
    assert.equal(record.validation, 'PKIX');
    assert.equal((pool.daemon.logs().match(/"msg":"directory searched"/g) ?? []).length, before);
  });

  test('with ldap.directory off (the default) the directory is not asked', async () => {
    const off = await startPool({ identities: [[SERVER_NAME, pki.server]], trust: [pki.ca], dns: { trust_anchors: [dns.trustAnchor], stubs: dns.stubs, timeout: 5 } });
    try {
      const { error } = await refused(off, `alice@${PLAIN}`, certs.alice!);
      assert.equal(error.code, 'EACCES');
      assert.match(error.message, /self-signed/);
      assert.doesNotMatch(off.daemon.logs(), /"msg":"directory/);
      // The flags only tighten the directory path: without it they are accepted and change nothing.
      const r = await refused(off, `alice@${PLAIN}`, certs.alice!, StartTlsFlag.REQUIRE_LDAP_CERT | StartTlsFlag.REQUIRE_LDAP_DANE);
      assert.equal(r.error.code, 'EACCES');
    } finally {
      await off.stop();
    }
  });

  test('tlspool lookup shows the SRV record, DNSSEC status, directory and certificates, and judges a file', async () => {
    const config = path.join(pool.daemon.dir, 'tlspool.yaml');
    const out = pool.cli(['lookup', `alice@${TLS}`, '--config', config, '--cert', certs.tlsAlice!.certPath]);
    assert.match(out, new RegExp(`SRV: _ldap\\._tcp\\.${TLS.replace(/\./g, '\\.')} -> ldap\\.tls\\.example\\.test:${secure.port} \\(DNSSEC secure\\)`));
    assert.match(out, /directory: ldap:\/\/ldap\.tls\.example\.test:\d+\/dc=tls,dc=example,dc=test over StartTLS \(DANE\)/);
    assert.match(out, new RegExp(`certificate: .*alice@tls\\.example\\.test.* sha256 ${certInfoSha(certs.tlsAlice!.der)}`));
    assert.match(out, /--cert: accepted \(published for alice\)/);
    const other = pool.cli(['lookup', `alice@${TLS}`, '--config', config, '--cert', certs.alice!.certPath]);
    assert.match(other, /--cert: refused \(not published for alice\)/);
  });
});

function certInfoSha(der: Buffer): string {
  return crypto.createHash('sha256').update(der).digest('hex');
}
