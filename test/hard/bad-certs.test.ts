/**
 * Bad certificates, each refused by default: a pool client's STARTTLS to an
 * openssl s_server presenting the bad chain gets an ERROR with the errno
 * docs/errors.md gives and a message naming the problem, and the server is
 * told why by an alert. Good chains built the same way are accepted, so a
 * refusal here is about the flaw, not the plumbing.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Errno, errnoName } from '../../src/protocol';
import { startOpensslServer, type Peer } from '../../harness/peers';
import { getPki, SERVER_NAME, type TestPki } from '../../harness/pki';
import { Plaintext, type Pool, rejection, startPool, tcpConnect } from '../../harness/starttls';

describe('bad certificates are refused by default', () => {
  let pki: TestPki;
  let pool: Pool;
  const peers: Peer[] = [];

  before(async () => {
    pki = getPki();
    pool = await startPool({ trust: [pki.ca], tls: { crl_files: [pki.crlPath] } });
  });
  after(async () => {
    await Promise.all(peers.map((p) => p.stop()));
    await pool.stop();
  });

  /** An openssl s_server presenting `chainPath`, and a pool client's STARTTLS to it expecting `remoteid`. */
  async function clientTo(chainPath: string, keyPath: string, remoteid = SERVER_NAME) {
    // OpenSSL's own security level would refuse to serve an RSA-1024 key or a SHA-1 signature.
    // -cert_chain: s_server sends only the first certificate of -cert's file.
    const extraArgs = ['-cert_chain', chainPath, '-cipher', 'DEFAULT:@SECLEVEL=0'];
    const server = await startOpensslServer({ certPath: chainPath, keyPath, extraArgs });
    peers.push(server);
    const fd = await tcpConnect(server.port);
    const result = pool.client.starttls({ role: 'client', fd, remoteid });
    result.finally(() => fd.close()).catch(() => {});
    return { server, result };
  }

  const S = SERVER_NAME.replace(/\./g, '\\.');
  const cases: Array<{ what: string; chain: () => [string, string]; remoteid?: string; errno: number; message: RegExp; alert: RegExp }> = [
    {
      what: 'an expired certificate',
      chain: () => [pki.expired.chainPath, pki.expired.keyPath],
      errno: Errno.EKEYEXPIRED,
      message: new RegExp(`server certificate for ${S} expired on 2001-01-01`),
      alert: /certificate expired/,
    },
    {
      what: 'a certificate that is not yet valid',
      chain: () => [pki.notYetValid.chainPath, pki.notYetValid.keyPath],
      errno: Errno.EKEYREJECTED,
      message: new RegExp(`server certificate for ${S} is not valid before 2099-01-01`),
      alert: /certificate expired/,
    },
    {
      what: 'a certificate for the wrong name',
      chain: () => [pki.server.chainPath, pki.server.keyPath],
      remoteid: 'mail.example.test',
      errno: Errno.EACCES,
      message: new RegExp(`server certificate is not for mail\\.example\\.test \\(it names ${S}\\)`),
      alert: /bad certificate/,
    },
    {
      what: 'a certificate from an unknown CA',
      chain: () => [pki.otherCaServer.chainPath, pki.otherCaServer.keyPath],
      errno: Errno.EACCES,
      message: new RegExp(`server certificate for ${S} is issued by an unknown CA \\(.*Some Other CA.*\\)`),
      alert: /unknown ca/,
    },
    {
      what: 'a self-signed certificate',
      chain: () => [pki.selfSigned.chainPath, pki.selfSigned.keyPath],
      errno: Errno.EACCES,
      message: new RegExp(`server certificate for ${S} is self-signed and not trusted`),
      alert: /unknown ca/,
    },
    {
      what: 'a certificate whose extended key usage allows only TLS client use',
      chain: () => [pki.clientAuthOnly.chainPath, pki.clientAuthOnly.keyPath],
      errno: Errno.EACCES,
      message: new RegExp(`server certificate for ${S} is not for TLS server use \\(extended key usage\\)`),
      alert: /unsupported certificate/,
    },
    {
      what: 'a certificate with an RSA-1024 key',
      chain: () => [pki.rsa1024.chainPath, pki.rsa1024.keyPath],
      errno: Errno.EACCES,
      message: new RegExp(`server certificate for ${S} has a 1024-bit RSA key, too weak \\(at least 2048 bits\\)`),
      alert: /bad certificate/,
    },
    {
      what: 'a certificate signed with SHA-1',
      chain: () => [pki.sha1.chainPath, pki.sha1.keyPath],
      errno: Errno.EACCES,
      message: new RegExp(`server certificate for ${S} is signed with ECDSA-SHA1, an insecure algorithm`),
      alert: /bad certificate/,
    },
    {
      what: 'a certificate revoked by a configured CRL',
      chain: () => [pki.revoked.chainPath, pki.revoked.keyPath],
      errno: Errno.EKEYREVOKED,
      message: new RegExp(`server certificate for ${S} has been revoked`),
      alert: /certificate revoked/,
    },
    {
      what: 'a broken chain (the intermediate left out)',
      chain: () => [pki.intermediateServer.certPath, pki.intermediateServer.keyPath],
      errno: Errno.EACCES,
      message: new RegExp(`server certificate for ${S} is issued by an unknown CA \\(CN=TLS Pool Test Intermediate\\)`),
      alert: /unknown ca/,
    },
    {
      what: 'a certificate issued by a certificate with CA:FALSE',
      chain: () => [pki.issuedByNonCa.chainPath, pki.issuedByNonCa.keyPath],
      errno: Errno.EACCES,
      message: new RegExp(`server certificate for ${S} is signed by an issuer that is not a CA \\(CA:FALSE\\)`),
      alert: /bad certificate/,
    },
    {
      what: "a certificate outside its issuer's name constraints",
      chain: () => [pki.outsideNameConstraint.chainPath, pki.outsideNameConstraint.keyPath],
      errno: Errno.EACCES,
      message: new RegExp(`server certificate for ${S} violates its issuer's name constraints or path length`),
      alert: /bad certificate/,
    },
  ];

  for (const c of cases) {
    test(`a pool client refuses ${c.what} with ${errnoName(c.errno)}, a message naming it, and an alert`, async () => {
      const [chainPath, keyPath] = c.chain();
      const { server, result } = await clientTo(chainPath, keyPath, c.remoteid);
      const e = await rejection(result);
      assert.equal(e.errno, c.errno, e.message);
      assert.match(e.message, c.message);
      await server.waitFor(c.alert);
      const rec = pool.connections()[0]!;
      assert.equal(rec.state, 'failed');
      assert.equal(rec.error?.errno, e.code);
    });
  }

  // The controls: the same construction without the flaw goes through.
  const good: Array<{ what: string; chain: () => [string, string] }> = [
    { what: 'a complete chain through an intermediate', chain: () => [pki.intermediateServer.chainPath, pki.intermediateServer.keyPath] },
    { what: 'a certificate with an RSA-2048 key', chain: () => [pki.serverRsa.chainPath, pki.serverRsa.keyPath] },
  ];
  for (const g of good) {
    test(`a pool client accepts ${g.what}`, async () => {
      const [chainPath, keyPath] = g.chain();
      const { server, result } = await clientTo(chainPath, keyPath);
      const ok = await result;
      assert.equal(ok.remoteid, SERVER_NAME);
      const plain = new Plaintext(ok.fd);
      plain.write('validated\n');
      await server.waitFor('validated');
      await plain.close();
    });
  }
});
