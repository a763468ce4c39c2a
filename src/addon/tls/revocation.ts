/**
 * Revocation data through GnuTLS: what a certificate says about its own
 * revocation (CRL distribution points, must-staple), its issuer, and whether
 * an OCSP response or a CRL is the issuer's word about it.
 */
import { addon } from '../load';
import type { TrustStore } from './certs';

export interface RevocationInfo {
  /** URIs of its CRL distribution points, as written. */
  crlDistributionPoints: string[];
  /** It carries the TLS feature status_request (RFC 7633): a server must staple OCSP for it. */
  mustStaple: boolean;
}

/** What an OCSP response says about one certificate, once its signature checked out. */
export type OcspResult =
  | { ok: false; why: string }
  | { ok: true; status: 'good' | 'revoked' | 'unknown'; thisUpdate: Date | null; nextUpdate: Date | null; revocationTime?: Date | null };

/** What a CRL says about one certificate, once its signature checked out. */
export type CrlResult = { ok: false; why: string } | { ok: true; revoked: boolean; thisUpdate: Date | null; nextUpdate: Date | null };

const native = addon as unknown as {
  tlsRevocationInfo(der: Buffer): RevocationInfo;
  tlsIssuerOf(chainDer: Buffer[], trust: TrustStore): Buffer | null;
  tlsOcspCheck(resp: Buffer, certDer: Buffer, issuerDer: Buffer): OcspResult;
  tlsCrlCheck(crl: Buffer, certDer: Buffer, issuerDer: Buffer): CrlResult;
};

/** Parse one DER certificate's revocation pointers. Throws (EINVAL) if it is not one. */
export function revocationInfo(der: Buffer): RevocationInfo {
  return native.tlsRevocationInfo(der);
}

/** The leaf's issuer: from the chain the peer sent, else a trust anchor; null when neither issued it. */
export function issuerOf(chainDer: Buffer[], trust: TrustStore): Buffer | null {
  return native.tlsIssuerOf(chainDer, trust);
}

/** Whether `resp` is a successful OCSP response about `certDer` signed by `issuerDer` (or its delegated responder), and what it says. */
export function checkOcsp(resp: Buffer, certDer: Buffer, issuerDer: Buffer): OcspResult {
  return native.tlsOcspCheck(resp, certDer, issuerDer);
}

/** Whether `crl` (DER or PEM) is `issuerDer`'s signed CRL, and whether it lists `certDer`. */
export function checkCrl(crl: Buffer, certDer: Buffer, issuerDer: Buffer): CrlResult {
  return native.tlsCrlCheck(crl, certDer, issuerDer);
}
