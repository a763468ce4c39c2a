/**
 * The pieces of revocation checking on their own, with real data: OCSP
 * responses from `openssl ocsp`, CRLs from certtool, certificates with CRL
 * distribution points and must-staple (harness/ocsp.ts), parsed and checked
 * by GnuTLS through the addon; the CRL fetcher against a node HTTP server on
 * loopback; and the rule that says when revocation data is current.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { createTrustStore } from '../../src/addon/tls/certs';
import { checkCrl, checkOcsp, issuerOf, revocationInfo } from '../../src/addon/tls/revocation';
import { CrlCache, fetchCrl } from '../../src/daemon/tls/crl-fetch';
import { staleness } from '../../src/daemon/tls/revocation';
import { tempDir } from '../../harness/daemon';
import { createRevocationPki, type RevocationPki } from '../../harness/ocsp';
import { getPki } from '../../harness/pki';

describe('revocation data through GnuTLS', () => {
  let dir: string;
  let r: RevocationPki;
  let issuer: Buffer;
  before(() => {
    dir = tempDir('tlspool-revocation-unit-');
    r = createRevocationPki(path.join(dir, 'pki'), { crlUrl: 'http://crl.example.test/rca.crl', deadUrl: 'http://127.0.0.1:9/none.crl' });
    issuer = issuerOf([r.good.der], createTrustStore({ anchorsPem: [r.ca.certPem] }))!;
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('a certificate names its CRL distribution point; must-staple is read from the TLS feature extension', () => {
    assert.deepEqual(revocationInfo(r.good.der), { crlDistributionPoints: ['http://crl.example.test/rca.crl'], mustStaple: false });
    assert.deepEqual(revocationInfo(r.mustStaple.der), { crlDistributionPoints: [], mustStaple: true });
    assert.deepEqual(revocationInfo(getPki().server.der), { crlDistributionPoints: [], mustStaple: false });
  });

  test('the issuer comes from the chain when the peer sent it, else from the trust anchors, else there is none', () => {
    assert.deepEqual(issuer, r.ca.der);
    const empty = createTrustStore({ anchorsPem: [] });
    assert.deepEqual(issuerOf([r.good.der, r.ca.der], empty), r.ca.der);
    assert.equal(issuerOf([r.good.der], empty), null);
    assert.equal(issuerOf([r.good.der], createTrustStore({ anchorsPem: [getPki().ca.certPem] })), null);
  });

  test('an OCSP response says good or revoked, with its dates', () => {
    const good = checkOcsp(r.ocspFor(r.good, 2), r.good.der, issuer);
    assert.ok(good.ok);
    assert.equal(good.status, 'good');
    assert.ok(good.thisUpdate && good.nextUpdate);
    const days = (good.nextUpdate.getTime() - good.thisUpdate.getTime()) / 86400_000;
    assert.ok(Math.abs(days - 2) < 0.01, `nextUpdate is ${days} days after thisUpdate`);
    const revoked = checkOcsp(r.ocspFor(r.revoked), r.revoked.der, issuer);
    assert.ok(revoked.ok);
    assert.equal(revoked.status, 'revoked');
    assert.ok(revoked.revocationTime instanceof Date);
  });

  test('an OCSP response about another certificate, by another signer, or not one at all is not valid', () => {
    assert.deepEqual(checkOcsp(r.ocspFor(r.good), r.revoked.der, issuer), { ok: false, why: 'it is about another certificate' });
    const otherIssuer = getPki().ca.der;
    const signer = checkOcsp(r.ocspFor(r.good), r.good.der, otherIssuer);
    assert.equal(signer.ok, false);
    const junk = checkOcsp(Buffer.from('not DER at all'), r.good.der, issuer);
    assert.equal(junk.ok, false);
    assert.match(junk.ok ? '' : junk.why, /^not an OCSP response/);
  });

  test('a CRL lists the revoked certificate and not the good one; a CRL by another CA is refused', () => {
    const revoked = checkCrl(r.crlDer, r.revoked.der, issuer);
    assert.ok(revoked.ok && revoked.revoked);
    const good = checkCrl(r.crlDer, r.good.der, issuer);
    assert.ok(good.ok && !good.revoked && good.nextUpdate);
    assert.deepEqual(checkCrl(r.otherCrlDer, r.good.der, issuer), { ok: false, why: 'it is issued by another CA' });
    const pem = Buffer.from(`-----BEGIN X509 CRL-----\n${r.crlDer.toString('base64')}\n-----END X509 CRL-----\n`);
    assert.ok(checkCrl(pem, r.revoked.der, issuer).ok);
    const broken = Buffer.from(r.crlDer);
    broken[broken.length - 5]! ^= 0xff; // inside the signature
    assert.deepEqual(checkCrl(broken, r.revoked.der, issuer), { ok: false, why: 'its signature does not verify' });
  });

  test('bad arguments throw instead of crashing', () => {
    assert.throws(() => checkOcsp('x' as unknown as Buffer, r.good.der, issuer), TypeError);
    assert.throws(() => checkCrl(r.crlDer, Buffer.from('no'), issuer), /cannot parse the certificate/);
    assert.throws(() => issuerOf([], createTrustStore({ anchorsPem: [] })), TypeError);
    assert.throws(() => issuerOf([r.good.der], {} as never), TypeError);
  });
});

describe('staleness', () => {
  const now = Date.parse('2026-06-01T12:00:00Z');
  const at = (h: number) => new Date(now + h * 3600_000);
  test('current between thisUpdate and nextUpdate (a few minutes of clock skew allowed)', () => {
    assert.equal(staleness(at(-1), at(1), now), undefined);
    assert.equal(staleness(new Date(now + 60_000), at(1), now), undefined);
  });
  test('out of date after nextUpdate, or issued in the future', () => {
    assert.match(staleness(at(-48), at(-24), now) ?? '', /^is out of date \(next update was 2026-05-31T12:00:00.000Z\)/);
    assert.match(staleness(at(2), at(24), now) ?? '', /^is issued in the future/);
  });
  test('without nextUpdate: current for a day after thisUpdate', () => {
    assert.equal(staleness(at(-23), null, now), undefined);
    assert.match(staleness(at(-25), null, now) ?? '', /no next update/);
    assert.match(staleness(null, null, now) ?? '', /no next update/);
  });
});

describe('CRL fetching', () => {
  let server: http.Server;
  let base: string;
  let hits = 0;
  const big = Buffer.alloc(4096, 1);
  before(async () => {
    server = http.createServer((req, res) => {
      hits++;
      if (req.url === '/small') res.end(Buffer.from('crl bytes'));
      else if (req.url === '/big') res.writeHead(200, { 'content-length': big.length }).end(big);
      else if (req.url === '/chunked-big') {
        res.write(big);
        res.end(big);
      } else if (req.url === '/redirect') res.writeHead(302, { location: '/small' }).end();
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });
  const limits = { fetch_timeout: 10, max_crl_size: 1024, retry_after: 300 };

  test('fetches a body; refuses one over max_crl_size, declared or not; other statuses and redirects fail', async () => {
    assert.deepEqual(await fetchCrl(`${base}/small`, limits), { ok: true, crl: Buffer.from('crl bytes'), cached: false });
    assert.match(JSON.stringify(await fetchCrl(`${base}/big`, limits)), /larger than revocation.max_crl_size \(1024 bytes\)/);
    assert.match(JSON.stringify(await fetchCrl(`${base}/chunked-big`, limits)), /larger than revocation.max_crl_size/);
    assert.match(JSON.stringify(await fetchCrl(`${base}/redirect`, limits)), /HTTP 302/);
    assert.match(JSON.stringify(await fetchCrl(`${base}/missing`, limits)), /HTTP 404/);
    assert.match(JSON.stringify(await fetchCrl('http://[::1', limits)), /cannot fetch it/);
  });

  test('one fetch serves concurrent askers; a remembered CRL and a remembered failure are not fetched again until fresh is asked', async () => {
    const cache = new CrlCache(() => limits);
    const before = hits;
    const [a, b] = await Promise.all([cache.get(`${base}/small`, false), cache.get(`${base}/small`, false)]);
    assert.ok(a.ok && b.ok);
    assert.equal(hits, before + 1);
    cache.remember(`${base}/small`, Buffer.from('crl bytes'), new Date(Date.now() + 60_000));
    assert.deepEqual(await cache.get(`${base}/small`, false), { ok: true, crl: Buffer.from('crl bytes'), cached: true });
    assert.equal(hits, before + 1);
    assert.equal((await cache.get(`${base}/small`, true)).cached, false);
    assert.equal(hits, before + 2);
    const miss = await cache.get(`${base}/missing`, false);
    assert.equal(miss.ok, false);
    assert.deepEqual(await cache.get(`${base}/missing`, false), { ok: false, why: 'the server answered HTTP 404', cached: true });
    assert.equal(hits, before + 3);
  });
});
