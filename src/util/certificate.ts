/**
 * What a certificate says, read once through Node's X509Certificate: the
 * facts the CLI, the control API and the store show or check. (The TLS
 * engine reads peers' certificates through GnuTLS, src/addon/tls/certs.ts,
 * so that validation sees exactly what the handshake saw.)
 */
import * as crypto from 'node:crypto';
import { Failure } from '../model/failure';

export interface CertificateFacts {
  /** Distinguished names, attributes joined by ", ". */
  readonly subject: string;
  readonly issuer: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly names: CertificateNames;
  readonly isCA: boolean;
  /** Hex SHA-256 of the DER, lower case. */
  readonly sha256: string;
  readonly der: Buffer;
  /** Whether the private key belongs to this certificate's public key. */
  matchesKey(key: crypto.KeyObject): boolean;
}

/** One certificate, PEM or DER; a Failure (EINVAL) when it is not one. */
export function readCertificate(pemOrDer: string | Buffer): CertificateFacts {
  let x: crypto.X509Certificate;
  try {
    x = new crypto.X509Certificate(pemOrDer);
  } catch (e) {
    throw new Failure('EINVAL', `not a certificate: ${(e as Error).message}`, { cause: e });
  }
  return {
    subject: x.subject.replace(/\n/g, ', '),
    issuer: x.issuer.replace(/\n/g, ', '),
    notBefore: new Date(x.validFrom),
    notAfter: new Date(x.validTo),
    names: certificateNames(x),
    isCA: x.ca,
    sha256: x.fingerprint256.replace(/:/g, '').toLowerCase(),
    der: x.raw,
    matchesKey: (key) => x.checkPrivateKey(key),
  };
}

export interface CertificateNames {
  readonly dns: string[];
  readonly email: string[];
  readonly cn?: string;
}

function certificateNames(cert: crypto.X509Certificate): CertificateNames {
  const dns: string[] = [];
  const email: string[] = [];
  for (const entry of splitSan(cert.subjectAltName ?? '')) {
    const colon = entry.indexOf(':');
    const kind = entry.slice(0, colon);
    const value = unquote(entry.slice(colon + 1));
    if (kind === 'DNS') dns.push(value);
    else if (kind === 'email') email.push(value);
  }
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(cert.subject)?.[1];
  return { dns, email, cn };
}

/** Node lists SANs as `DNS:a, email:b`, quoting values that hold commas. */
function splitSan(san: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < san.length; i++) {
    const c = san[i];
    if (c === '"' && san[i - 1] !== '\\') quoted = !quoted;
    if (c === ',' && !quoted && san[i + 1] === ' ') {
      out.push(cur);
      cur = '';
      i++;
      continue;
    }
    cur += c;
  }
  if (cur) out.push(cur);
  return out;
}

function unquote(v: string): string {
  return v.startsWith('"') && v.endsWith('"') ? JSON.parse(v) : v;
}


