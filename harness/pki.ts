/**
 * A throw-away PKI for tests, made with the real tools (`openssl` for keys,
 * `certtool` for certificates, since it can set any validity dates) in a
 * temporary directory: a CA, good server and client certificates, and the
 * bad ones (expired, not yet valid, self-signed, issued by another CA,
 * revoked with a CRL, wrong key purpose, RSA-1024, SHA-1, issued by a
 * CA:FALSE certificate, outside a name constraint, missing intermediate).
 * Every entry has its paths, its PEM text and its DER.
 *
 *   const pki = getPki();              // made once per process, removed at exit
 *   pki.server.certPem, pki.server.keyPem, pki.ca.certPem, ...
 */
import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const SERVER_NAME = 'server.example.test';
export const CLIENT_EMAIL = 'alice@example.test';
/** The name of a second server identity (server2), for LOCALID choices. */
export const SERVER2_NAME = 'www.example.test';

export interface Cert {
  /** Short name (file stem). */
  readonly name: string;
  readonly certPath: string;
  readonly keyPath: string;
  readonly certPem: string;
  readonly keyPem: string;
  /** The certificate alone, DER. */
  readonly der: Buffer;
  /** The chain to present: leaf first, then intermediates (the root is left out). */
  readonly chainPem: string;
  readonly chainPath: string;
  /** Hex SHA-256 of the DER. */
  readonly sha256: string;
}

export interface TestPki {
  readonly dir: string;
  /** The trusted root (ECDSA P-256). */
  readonly ca: Cert;
  /** A second root that nobody trusts. */
  readonly otherCa: Cert;
  /** ECDSA P-256, dNSName server.example.test, serverAuth, issued by ca. */
  readonly server: Cert;
  /** RSA 2048, dNSName server.example.test, serverAuth, issued by ca. */
  readonly serverRsa: Cert;
  /** ECDSA P-256, dNSName www.example.test, serverAuth, issued by ca: a second server identity. */
  readonly server2: Cert;
  /** ECDSA P-256, rfc822Name alice@example.test, clientAuth, issued by ca. */
  readonly client: Cert;
  /** Like server, but valid only in 2000. */
  readonly expired: Cert;
  /** Like server, but valid only from 2099. */
  readonly notYetValid: Cert;
  /** Like server, but self-signed. */
  readonly selfSigned: Cert;
  /** Like server, but issued by otherCa. */
  readonly otherCaServer: Cert;
  /** Like server, issued by ca and listed in crlPem. */
  readonly revoked: Cert;
  /** Like server, but its extended key usage allows TLS client use only. */
  readonly clientAuthOnly: Cert;
  /** Like server, but with an RSA-1024 key. */
  readonly rsa1024: Cert;
  /** Like server, but signed with ECDSA-SHA1. */
  readonly sha1: Cert;
  /** Like server, but issued by `notCa`, an end-entity certificate (CA:FALSE) of ca; chain: leaf, notCa. */
  readonly issuedByNonCa: Cert;
  /** Like server, but issued by an intermediate of ca permitted only dNSNames under allowed.example.test; chain: leaf, intermediate. */
  readonly outsideNameConstraint: Cert;
  /** Like server, issued by an intermediate of ca: chainPath holds leaf and intermediate; certPath alone is a broken chain. */
  readonly intermediateServer: Cert;
  /** A CRL by ca revoking `revoked`. */
  readonly crlPem: string;
  readonly crlPath: string;
  /** Remove the directory (also done at process exit). */
  cleanup(): void;
}

function run(cmd: string, args: string[], cwd: string): void {
  execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
}

function pemToDer(pem: string): Buffer {
  const m = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(pem);
  if (!m) throw new Error('no certificate in PEM');
  return Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64');
}

interface Spec {
  name: string;
  key: 'ec' | 'rsa' | 'rsa1024';
  template: string;
  /** Issuer name, or undefined for self-signed. */
  issuer?: string;
  /** Signature hash, when not certtool's default. */
  hash?: 'SHA1';
  /** Certificates to present after this one (intermediates), by name. */
  chain?: string[];
}

function makeCert(dir: string, spec: Spec, issuers: Map<string, Cert>): Cert {
  const keyPath = path.join(dir, `${spec.name}.key`);
  const certPath = path.join(dir, `${spec.name}.pem`);
  const tmpl = path.join(dir, `${spec.name}.tmpl`);
  if (spec.key === 'ec') {
    run('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', keyPath], dir);
  } else {
    const bits = spec.key === 'rsa1024' ? '1024' : '2048';
    run('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', `rsa_keygen_bits:${bits}`, '-out', keyPath], dir);
  }
  fs.writeFileSync(tmpl, spec.template);
  const hash = spec.hash ? ['--hash', spec.hash] : [];
  if (spec.issuer === undefined) {
    run('certtool', ['--generate-self-signed', '--no-text', '--load-privkey', keyPath, '--template', tmpl, '--outfile', certPath], dir);
  } else {
    const issuer = issuers.get(spec.issuer);
    if (!issuer) throw new Error(`unknown issuer ${spec.issuer}`);
    run(
      'certtool',
      [
        '--generate-certificate', '--no-text',
        '--load-privkey', keyPath,
        '--load-ca-certificate', issuer.certPath,
        '--load-ca-privkey', issuer.keyPath,
        '--template', tmpl,
        '--outfile', certPath,
        ...hash,
      ],
      dir,
    );
  }
  const certPem = fs.readFileSync(certPath, 'utf8');
  const keyPem = fs.readFileSync(keyPath, 'utf8');
  const der = pemToDer(certPem);
  const chainPath = path.join(dir, `${spec.name}.chain.pem`);
  const chainPem = certPem + (spec.chain ?? []).map((n) => issuers.get(n)!.certPem).join('');
  fs.writeFileSync(chainPath, chainPem);
  return {
    name: spec.name,
    certPath,
    keyPath,
    certPem,
    keyPem,
    der,
    chainPem,
    chainPath,
    sha256: crypto.createHash('sha256').update(der).digest('hex'),
  };
}

const SERVER_EXT = `dns_name = "${SERVER_NAME}"\ntls_www_server\nsigning_key\n`;

/** Make a new PKI in `dir` (a new temporary directory by default). */
export function createPki(dir?: string): TestPki {
  const root = dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'tlspool-pki-'));
  const certs = new Map<string, Cert>();
  const specs: Spec[] = [
    { name: 'ca', key: 'ec', template: 'cn = "TLS Pool Test CA"\norganization = "TLS Pool tests"\nca\ncert_signing_key\ncrl_signing_key\nexpiration_days = 3650\n' },
    { name: 'other-ca', key: 'ec', template: 'cn = "Some Other CA"\nca\ncert_signing_key\ncrl_signing_key\nexpiration_days = 3650\n' },
    { name: 'server', key: 'ec', issuer: 'ca', template: `cn = "${SERVER_NAME}"\n${SERVER_EXT}expiration_days = 365\n` },
    { name: 'server-rsa', key: 'rsa', issuer: 'ca', template: `cn = "${SERVER_NAME}"\n${SERVER_EXT}encryption_key\nexpiration_days = 365\n` },
    {
      name: 'server2', key: 'ec', issuer: 'ca',
      template: `cn = "${SERVER2_NAME}"\ndns_name = "${SERVER2_NAME}"\ntls_www_server\nsigning_key\nexpiration_days = 365\n`,
    },
    {
      name: 'client', key: 'ec', issuer: 'ca',
      template: `cn = "alice"\nemail = "${CLIENT_EMAIL}"\ntls_www_client\nsigning_key\nexpiration_days = 365\n`,
    },
    {
      name: 'expired', key: 'ec', issuer: 'ca',
      template: `cn = "${SERVER_NAME}"\n${SERVER_EXT}activation_date = "2000-01-01 00:00:00"\nexpiration_date = "2001-01-01 00:00:00"\n`,
    },
    {
      name: 'not-yet-valid', key: 'ec', issuer: 'ca',
      template: `cn = "${SERVER_NAME}"\n${SERVER_EXT}activation_date = "2099-01-01 00:00:00"\nexpiration_date = "2100-01-01 00:00:00"\n`,
    },
    { name: 'self-signed', key: 'ec', template: `cn = "${SERVER_NAME}"\n${SERVER_EXT}expiration_days = 365\n` },
    { name: 'other-ca-server', key: 'ec', issuer: 'other-ca', template: `cn = "${SERVER_NAME}"\n${SERVER_EXT}expiration_days = 365\n` },
    { name: 'revoked', key: 'ec', issuer: 'ca', template: `cn = "${SERVER_NAME}"\n${SERVER_EXT}expiration_days = 365\n` },
    {
      name: 'client-auth-only', key: 'ec', issuer: 'ca',
      template: `cn = "${SERVER_NAME}"\ndns_name = "${SERVER_NAME}"\ntls_www_client\nsigning_key\nexpiration_days = 365\n`,
    },
    { name: 'rsa-1024', key: 'rsa1024', issuer: 'ca', template: `cn = "${SERVER_NAME}"\n${SERVER_EXT}encryption_key\nexpiration_days = 365\n` },
    { name: 'sha1', key: 'ec', issuer: 'ca', hash: 'SHA1', template: `cn = "${SERVER_NAME}"\n${SERVER_EXT}expiration_days = 365\n` },
    // An end-entity certificate (CA:FALSE) used as if it were an issuer.
    { name: 'not-ca', key: 'ec', issuer: 'ca', template: 'cn = "Not A CA"\nsigning_key\ncert_signing_key\nexpiration_days = 365\n' },
    { name: 'issued-by-non-ca', key: 'ec', issuer: 'not-ca', chain: ['not-ca'], template: `cn = "${SERVER_NAME}"\n${SERVER_EXT}expiration_days = 365\n` },
    {
      name: 'constrained-ca', key: 'ec', issuer: 'ca',
      template: 'cn = "Constrained Intermediate"\nca\ncert_signing_key\nnc_permit_dns = "allowed.example.test"\nexpiration_days = 3650\n',
    },
    {
      name: 'outside-name-constraint', key: 'ec', issuer: 'constrained-ca', chain: ['constrained-ca'],
      template: `cn = "${SERVER_NAME}"\n${SERVER_EXT}expiration_days = 365\n`,
    },
    { name: 'intermediate', key: 'ec', issuer: 'ca', template: 'cn = "TLS Pool Test Intermediate"\nca\ncert_signing_key\nexpiration_days = 3650\n' },
    { name: 'intermediate-server', key: 'ec', issuer: 'intermediate', chain: ['intermediate'], template: `cn = "${SERVER_NAME}"\n${SERVER_EXT}expiration_days = 365\n` },
  ];
  for (const spec of specs) certs.set(spec.name, makeCert(root, spec, certs));

  const ca = certs.get('ca')!;
  const crlPath = path.join(root, 'ca.crl');
  const crlTmpl = path.join(root, 'crl.tmpl');
  fs.writeFileSync(crlTmpl, 'crl_next_update = 365\ncrl_number = 1\n');
  run(
    'certtool',
    [
      '--generate-crl', '--no-text',
      '--load-ca-privkey', ca.keyPath,
      '--load-ca-certificate', ca.certPath,
      '--load-certificate', certs.get('revoked')!.certPath,
      '--template', crlTmpl,
      '--outfile', crlPath,
    ],
    root,
  );

  let removed = false;
  const cleanup = () => {
    if (removed) return;
    removed = true;
    fs.rmSync(root, { recursive: true, force: true });
  };
  return {
    dir: root,
    ca,
    otherCa: certs.get('other-ca')!,
    server: certs.get('server')!,
    serverRsa: certs.get('server-rsa')!,
    server2: certs.get('server2')!,
    client: certs.get('client')!,
    expired: certs.get('expired')!,
    notYetValid: certs.get('not-yet-valid')!,
    selfSigned: certs.get('self-signed')!,
    otherCaServer: certs.get('other-ca-server')!,
    revoked: certs.get('revoked')!,
    clientAuthOnly: certs.get('client-auth-only')!,
    rsa1024: certs.get('rsa-1024')!,
    sha1: certs.get('sha1')!,
    issuedByNonCa: certs.get('issued-by-non-ca')!,
    outsideNameConstraint: certs.get('outside-name-constraint')!,
    intermediateServer: certs.get('intermediate-server')!,
    crlPem: fs.readFileSync(crlPath, 'utf8'),
    crlPath,
    cleanup,
  };
}

let shared: TestPki | undefined;

/** One PKI per process, made on first use and removed when the process exits. */
export function getPki(): TestPki {
  if (!shared) {
    const pki = createPki();
    shared = pki;
    process.once('exit', () => pki.cleanup());
  }
  return shared;
}
