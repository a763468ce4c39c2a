/**
 * Revocation data for tests, made with the real tools: a CA of its own
 * (openssl) whose server certificates carry a CRL distribution point and,
 * for one, the must-staple TLS feature; OCSP responses from `openssl ocsp`
 * answering out of an index.txt CA database (good or revoked); a CRL from
 * certtool; and a node HTTP server on loopback that serves the CRL and
 * counts its requests.
 *
 *   const crl = await startCrlServer();
 *   const rpki = createRevocationPki(dir, { crlUrl: crl.url });
 *   crl.serve(rpki.crlDer);
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import type { Cert } from './pki';
import { SERVER_NAME } from './pki';

export interface RevocationPki {
  readonly dir: string;
  readonly ca: Cert;
  /** Good; its OCSP response says good. CRLDP: the CRL server. */
  readonly good: Cert;
  /** Revoked in the index (OCSP) and in the CRL. CRLDP: the CRL server. */
  readonly revoked: Cert;
  /** Good, must-staple (TLS feature status_request). */
  readonly mustStaple: Cert;
  /** Good, CRLDP: an address where nothing answers. */
  readonly unreachable: Cert;
  /** A CA nobody trusts, and a CRL it signed that claims to revoke `good`. */
  readonly otherCrlDer: Buffer;
  /** The CA's CRL (DER), revoking `revoked`. */
  readonly crlDer: Buffer;
  /** An OCSP response (DER) for `cert`, signed by the CA, current for `days`. */
  ocspFor(cert: Cert, days?: number): Buffer;
  /** The same, written to a file in dir; returns its path. */
  ocspFile(cert: Cert, days?: number): string;
}

function run(cmd: string, args: string[], cwd: string): string {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function pemToDer(pem: string): Buffer {
  const m = /-----BEGIN [A-Z0-9 ]+-----([\s\S]*?)-----END/.exec(pem);
  if (!m) throw new Error('no PEM block');
  return Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64');
}

function certOf(dir: string, name: string): Cert {
  const certPath = path.join(dir, `${name}.pem`);
  const keyPath = path.join(dir, `${name}.key`);
  const certPem = fs.readFileSync(certPath, 'utf8');
  const chainPath = path.join(dir, `${name}.chain.pem`);
  fs.writeFileSync(chainPath, certPem);
  const der = pemToDer(certPem);
  const sha256 = run('openssl', ['x509', '-in', certPath, '-noout', '-fingerprint', '-sha256'], dir)
    .split('=')[1]!
    .trim()
    .replace(/:/g, '')
    .toLowerCase();
  return { name, certPath, keyPath, certPem, keyPem: fs.readFileSync(keyPath, 'utf8'), der, chainPem: certPem, chainPath, sha256 };
}

function genKey(dir: string, name: string): void {
  run('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`], dir);
}

function makeCa(dir: string, name: string, cn: string): Cert {
  genKey(dir, name);
  run('openssl', [
    'req', '-x509', '-new', '-key', `${name}.key`, '-out', `${name}.pem`, '-days', '3650', '-subj', `/CN=${cn}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
  ], dir);
  return certOf(dir, name);
}

function issueLeaf(dir: string, ca: Cert, name: string, serial: number, ext: string[]): Cert {
  genKey(dir, name);
  run('openssl', ['req', '-new', '-key', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${SERVER_NAME}`], dir);
  const extFile = path.join(dir, `${name}.ext`);
  fs.writeFileSync(extFile, [
    `subjectAltName=DNS:${SERVER_NAME}`, 'extendedKeyUsage=serverAuth', 'keyUsage=critical,digitalSignature', 'basicConstraints=CA:FALSE', ...ext,
  ].join('\n') + '\n');
  run('openssl', [
    'x509', '-req', '-in', `${name}.csr`, '-CA', ca.certPath, '-CAkey', ca.keyPath, '-set_serial', String(serial),
    '-days', '30', '-sha256', '-extfile', extFile, '-out', `${name}.pem`,
  ], dir);
  return certOf(dir, name);
}

/** One line of openssl's index.txt for a certificate; revoked ones carry a revocation time. */
function indexLine(dir: string, cert: Cert, revoked: boolean): string {
  const out = run('openssl', ['x509', '-in', cert.certPath, '-noout', '-serial', '-enddate'], dir);
  const serial = /serial=(\w+)/.exec(out)![1]!;
  const end = new Date(/notAfter=(.*)/.exec(out)![1]!);
  const subject = `/CN=${SERVER_NAME}`;
  const t = (d: Date) => d.toISOString().replace(/[-:T]/g, '').slice(2, 14) + 'Z';
  return [revoked ? 'R' : 'V', t(end), revoked ? t(new Date(Date.now() - 3600_000)) : '', serial, 'unknown', subject].join('\t');
}

function makeCrl(dir: string, ca: Cert, name: string, revoked: Cert[]): Buffer {
  const tmpl = path.join(dir, `${name}.tmpl`);
  fs.writeFileSync(tmpl, 'crl_next_update = 30\ncrl_number = 1\n');
  const list = path.join(dir, `${name}.revoked.pem`);
  fs.writeFileSync(list, revoked.map((c) => c.certPem).join(''));
  run('certtool', [
    '--generate-crl', '--no-text', '--load-ca-privkey', ca.keyPath, '--load-ca-certificate', ca.certPath,
    ...(revoked.length ? ['--load-certificate', list] : []), '--template', tmpl, '--outfile', `${name}.crl`,
  ], dir);
  return pemToDer(fs.readFileSync(path.join(dir, `${name}.crl`), 'utf8'));
}

/** A PKI with revocation data in `dir`. `crlUrl` is where `good` and `revoked` say their CRL is; `deadUrl` one nothing answers. */
export function createRevocationPki(dir: string, opts: { crlUrl: string; deadUrl: string }): RevocationPki {
  fs.mkdirSync(dir, { recursive: true });
  const ca = makeCa(dir, 'rca', 'TLS Pool Revocation Test CA');
  const crldp = (url: string) => `crlDistributionPoints=URI:${url}`;
  const good = issueLeaf(dir, ca, 'good', 1001, [crldp(opts.crlUrl)]);
  const revoked = issueLeaf(dir, ca, 'revoked', 1002, [crldp(opts.crlUrl)]);
  const mustStaple = issueLeaf(dir, ca, 'must-staple', 1003, ['tlsfeature=status_request']);
  const unreachable = issueLeaf(dir, ca, 'unreachable', 1004, [crldp(opts.deadUrl)]);
  const index = path.join(dir, 'index.txt');
  // Every leaf has the same subject: openssl must not insist on unique ones.
  fs.writeFileSync(`${index}.attr`, 'unique_subject = no\n');
  fs.writeFileSync(index, [good, mustStaple, unreachable].map((c) => indexLine(dir, c, false)).concat(indexLine(dir, revoked, true)).join('\n') + '\n');
  const crlDer = makeCrl(dir, ca, 'rca', [revoked]);
  const other = makeCa(dir, 'other', 'Some Other Revocation CA');
  const otherCrlDer = makeCrl(dir, other, 'other', [good]);
  let n = 0;
  const ocspFor = (cert: Cert, days = 1): Buffer => {
    const stem = path.join(dir, `ocsp-${cert.name}-${n++}`);
    run('openssl', ['ocsp', '-issuer', ca.certPath, '-cert', cert.certPath, '-no_nonce', '-reqout', `${stem}.req`], dir);
    run('openssl', [
      'ocsp', '-index', index, '-rsigner', ca.certPath, '-rkey', ca.keyPath, '-CA', ca.certPath, '-reqin', `${stem}.req`,
      '-respout', `${stem}.der`, '-ndays', String(days),
    ], dir);
    return fs.readFileSync(`${stem}.der`);
  };
  const ocspFile = (cert: Cert, days = 1): string => {
    const file = path.join(dir, `staple-${cert.name}-${n++}.der`);
    fs.writeFileSync(file, ocspFor(cert, days));
    return file;
  };
  return { dir, ca, good, revoked, mustStaple, unreachable, crlDer, otherCrlDer, ocspFor, ocspFile };
}

export interface CrlServer {
  /** http://127.0.0.1:PORT/rca.crl */
  readonly url: string;
  /** Requests answered so far. */
  readonly hits: number;
  serve(body: Buffer): void;
  stop(): Promise<void>;
}

/** A node HTTP server on loopback serving one CRL at /rca.crl (404 elsewhere), counting requests. */
export async function startCrlServer(): Promise<CrlServer> {
  let body: Buffer = Buffer.alloc(0);
  let hits = 0;
  const server = http.createServer((req, res) => {
    hits++;
    if (req.url !== '/rca.crl') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/pkix-crl', 'content-length': body.length }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/rca.crl`,
    get hits() {
      return hits;
    },
    serve: (b) => {
      body = b;
    },
    stop: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
