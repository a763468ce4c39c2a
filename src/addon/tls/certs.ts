/**
 * Certificates through GnuTLS: trust stores, chain verification as the
 * engine does it, and parsing one certificate.
 */
import { addon } from '../load';

const native = addon as unknown as {
  TlsTrustStore: new (opts: { anchorsPem: string[]; useSystemTrust: boolean; crlsPem: string[] }) => TrustStore;
  tlsVerifyChain(chainDer: Buffer[], opts: object): VerifyChainResult;
  tlsCertInfo(der: Buffer): CertInfo;
};

/**
 * Trust anchors (and the system's), with CRLs, loaded once for many
 * verifications: building the list is the expensive part of verifying.
 * Freed by close() or the garbage collector.
 */
export interface TrustStore {
  readonly closed: boolean;
  close(): void;
}

export function createTrustStore(opts: { anchorsPem: string[]; useSystemTrust?: boolean; crlsPem?: string[] }): TrustStore {
  return new native.TlsTrustStore({ anchorsPem: opts.anchorsPem, useSystemTrust: opts.useSystemTrust ?? false, crlsPem: opts.crlsPem ?? [] });
}

export type VerifyChainOptions = ({ trust: TrustStore } | TrustSourcesOptions) & VerifyChainChecks;

interface TrustSourcesOptions {
  /** Trust anchors (PEM; a string may hold several). */
  anchorsPem: string[];
  /** Also trust the system's anchors (p11-kit / ca-certificates). */
  useSystemTrust?: boolean;
  /** CRLs (PEM), checked for every certificate they cover. */
  crlsPem?: string[];
}

interface VerifyChainChecks {
  /** The key purpose the leaf must allow: TLS server or client authentication ('any': no check). */
  purpose: 'server' | 'client' | 'any';
  /** The leaf must be for this DNS name (dNSName, or CN when there are none). */
  hostname?: string;
  /** The leaf must be for this e-mail address (rfc822Name). */
  email?: string;
  /** Judge validity periods at this time instead of now. */
  atTime?: Date;
}

export interface VerifyChainResult {
  ok: boolean;
  /** GnuTLS status flags without the GNUTLS_CERT_ prefix, e.g. 'EXPIRED', 'NOT_ACTIVATED', 'SIGNER_NOT_FOUND', 'SIGNER_NOT_CA', 'UNEXPECTED_OWNER', 'REVOKED', 'INSECURE_ALGORITHM', 'PURPOSE_MISMATCH'; 'NO_CERTIFICATE' for an empty chain. */
  status: string[];
  /** GnuTLS's sentence about it. */
  message: string;
}

/** Verify a chain (leaf first, DER) against anchors, synchronously. Throws only for unusable input. */
export function verifyChain(chainDer: Buffer[], opts: VerifyChainOptions): VerifyChainResult {
  const o: Record<string, unknown> =
    'trust' in opts
      ? { trust: opts.trust, purpose: opts.purpose }
      : { anchorsPem: opts.anchorsPem, useSystemTrust: opts.useSystemTrust ?? false, crlsPem: opts.crlsPem ?? [], purpose: opts.purpose };
  if (opts.hostname !== undefined) o.hostname = opts.hostname;
  if (opts.email !== undefined) o.email = opts.email;
  if (opts.atTime !== undefined) o.atTime = opts.atTime.getTime();
  return native.tlsVerifyChain(chainDer, o);
}

export interface CertInfo {
  /** RFC 4514 distinguished names. */
  subject: string;
  issuer: string;
  /** Hex serial number. */
  serial: string;
  notBefore: Date;
  notAfter: Date;
  dnsNames: string[];
  rfc822Names: string[];
  commonName?: string;
  /** Hex SHA-256 of the DER. */
  sha256: string;
  /** Self-issued (issuer = subject, matching key identifiers). */
  selfSigned: boolean;
  isCA: boolean;
  /** GnuTLS's name of the public key algorithm ('RSA', 'EC/ECDSA', …) and its size in bits. */
  keyAlgorithm?: string;
  keyBits?: number;
  /** GnuTLS's name of the algorithm the issuer signed with ('ECDSA-SHA256', 'RSA-SHA1', …). */
  signatureAlgorithm?: string;
}

/** Parse one DER certificate. Throws (code EINVAL) if it is not one. */
export function certInfo(der: Buffer): CertInfo {
  return native.tlsCertInfo(der);
}
