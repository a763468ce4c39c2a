/**
 * Is this peer acceptable? Chain to a trust anchor, validity dates, key
 * purpose and revocation (GnuTLS does those), then the name (our rule, in
 * identity/names.ts). Successful validations are cached for a while.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import type { Config } from '../../config';
import type { IdentityStore } from '../../store/identities';
import { nameMatches, provenIdentity } from '../../store/names';
import { certInfo, createTrustStore, type TrustStore, verifyChain } from '../../addon/tls/certs';
import type { RejectAlert } from '../../addon/tls/options';
import type { ErrnoName } from '../../protocol/errno';
import type { Role } from '../../model/connection';
import { handshakeText as policy } from '../../addon/tls/failure';

export interface Verdict {
  readonly ok: true;
  /** The remote identity this connection has proven (or was asked to). */
  readonly remoteid: string;
}

export interface Refusal {
  readonly ok: false;
  readonly code: ErrnoName;
  readonly message: string;
  readonly alert: RejectAlert;
}

export interface ValidateRequest {
  /** Our role; the peer's certificate must be for the other one. */
  readonly role: Role;
  readonly chainDer: Buffer[];
  /** The identity the application expects, or '' for any valid one. */
  readonly remoteid: string;
  readonly ignoreCaches: boolean;
}

interface CacheEntry {
  remoteid: string;
  expires: number;
}

/** Trust anchors and CRLs, loaded again when the store or the configuration changes. */
export class Validator {
  private trust: TrustStore | undefined;
  private readonly cache = new Map<string, CacheEntry>();

  constructor(
    private readonly store: IdentityStore,
    private config: Config['tls'],
  ) {}

  /** Forget anchors, CRLs and cached results (the configuration was reloaded). */
  reset(config: Config['tls'] = this.config): void {
    this.config = config;
    this.trust?.close();
    this.trust = undefined;
    this.cache.clear();
  }

  /**
   * The trust store changed (`tlspool trust`): every validation from now on
   * reads the anchors again. Results validated before stay cached for their
   * TTL, as `tls.validation_cache_ttl` promises; IGNORE_CACHES bypasses them.
   */
  trustChanged(): void {
    this.trust?.close();
    this.trust = undefined;
  }

  validate(req: ValidateRequest): Verdict | Refusal {
    const { chainDer, remoteid } = req;
    const peerRole = req.role === 'client' ? 'server' : 'client';
    if (chainDer.length === 0) {
      return refuse('EACCES', `the ${peerRole} sent no certificate`, 'certificate_required');
    }
    const key = cacheKey(chainDer, peerRole, remoteid);
    const hit = this.cache.get(key);
    if (hit && !req.ignoreCaches && hit.expires > Date.now()) return { ok: true, remoteid: hit.remoteid };

    const leaf = certInfo(chainDer[0]);
    const who = leaf.rfc822Names[0] ?? leaf.dnsNames[0] ?? leaf.commonName ?? leaf.subject;
    const result = verifyChain(chainDer, { trust: this.trustStore(), purpose: peerRole });
    if (!result.ok) {
      // A fresh refusal replaces what the cache said about this chain.
      this.cache.delete(key);
      return explain(result.status, result.message, who, chainDer, peerRole);
    }

    const names = { dns: leaf.dnsNames, email: leaf.rfc822Names, cn: leaf.commonName };
    if (remoteid && !nameMatches(remoteid, names)) {
      const has = [...names.dns, ...names.email].join(', ') || (names.cn ? `CN=${names.cn}` : 'no name');
      return refuse('EACCES', policy`the ${peerRole} certificate is not for ${remoteid} (it names ${has})`, 'bad_certificate');
    }
    const proven = remoteid || provenIdentity(names);
    const ttl = this.config.validation_cache_ttl * 1000;
    if (ttl > 0) this.cache.set(key, { remoteid: proven, expires: Math.min(Date.now() + ttl, leaf.notAfter.getTime()) });
    return { ok: true, remoteid: proven };
  }

  /** The anchors (and CRL files) validations use, loaded when first needed. */
  trustStore(): TrustStore {
    return (this.trust ??= createTrustStore({
      anchorsPem: [
        ...this.store.listTrustAnchors().map((a) => a.certPem),
        ...this.config.trust_files.map((f) => fs.readFileSync(f, 'utf8')),
      ],
      useSystemTrust: this.config.system_trust,
      crlsPem: this.config.crl_files.map((f) => fs.readFileSync(f, 'utf8')),
    }));
  }
}

function cacheKey(chainDer: Buffer[], purpose: string, remoteid: string): string {
  const h = crypto.createHash('sha256');
  for (const der of chainDer) h.update(der);
  return `${purpose}\0${remoteid}\0${h.digest('hex')}`;
}

function refuse(code: ErrnoName, message: string, alert: RejectAlert): Refusal {
  return { ok: false, code, message, alert };
}

/** Key sizes below this (RSA, DSA) fail GnuTLS's MEDIUM verification profile, which the native verifier uses. */
const MIN_RSA_BITS = 2048;

/** The documented errno for each way a chain fails (docs/errors.md). */
function explain(status: string[], gnutlsMessage: string, who: string, chainDer: Buffer[], peerRole: string): Refusal {
  // The ERROR packet carries 127 bytes, after the "TLS handshake failed: " prefix: `policy` shortens the names, not the sentence.
  const leaf = certInfo(chainDer[0]);
  const has = (s: string) => status.includes(s);
  if (has('REVOKED')) return refuse('EKEYREVOKED', policy`the ${peerRole} certificate for ${who} has been revoked`, 'certificate_revoked');
  if (has('EXPIRED')) return refuse('EKEYEXPIRED', policy`the ${peerRole} certificate for ${who} expired on ${leaf.notAfter.toISOString()}`, 'certificate_expired');
  if (has('NOT_ACTIVATED')) {
    return refuse('EKEYREJECTED', policy`the ${peerRole} certificate for ${who} is not valid before ${leaf.notBefore.toISOString()}`, 'certificate_expired');
  }
  if (has('SIGNER_NOT_FOUND')) {
    // A chain whose intermediate the peer left out ends here too: that intermediate is the unknown CA named.
    return leaf.selfSigned
      ? refuse('EACCES', policy`the ${peerRole} certificate for ${who} is self-signed and not trusted`, 'unknown_ca')
      : refuse('EACCES', policy`the ${peerRole} certificate for ${who} is issued by an unknown CA (${leaf.issuer})`, 'unknown_ca');
  }
  if (has('SIGNER_NOT_CA')) return refuse('EACCES', policy`the ${peerRole} certificate for ${who} is signed by an issuer that is not a CA (CA:FALSE)`, 'bad_certificate');
  if (has('SIGNER_CONSTRAINTS_FAILURE')) {
    return refuse('EACCES', policy`the ${peerRole} certificate for ${who} violates its issuer's name constraints or path length`, 'bad_certificate');
  }
  if (has('INSECURE_ALGORITHM')) return refuse('EACCES', policy`the ${peerRole} certificate for ${who} ${weakness(chainDer)}`, 'bad_certificate');
  if (has('PURPOSE_MISMATCH')) return refuse('EACCES', policy`the ${peerRole} certificate for ${who} is not for TLS ${peerRole} use (extended key usage)`, 'unsupported_certificate');
  return refuse('EACCES', policy`the ${peerRole} certificate for ${who} is not valid: ${gnutlsMessage || status.join(', ')}`, 'bad_certificate');
}

/** Which certificate of the chain is weak, and how: a short key or a broken signature hash. */
function weakness(chainDer: Buffer[]): string {
  for (const [i, der] of chainDer.entries()) {
    const c = certInfo(der);
    const keyAlg = c.keyAlgorithm ?? '';
    if ((keyAlg.startsWith('RSA') || keyAlg === 'DSA') && (c.keyBits ?? 0) < MIN_RSA_BITS) {
      const whose = i === 0 ? 'has' : 'has an issuer with';
      return `${whose} a ${c.keyBits}-bit ${keyAlg} key, too weak (at least ${MIN_RSA_BITS} bits)`;
    }
    if (/SHA1|MD5|MD2/i.test(c.signatureAlgorithm ?? '')) {
      const whose = i === 0 ? 'is' : 'has an issuer';
      return `${whose} signed with ${c.signatureAlgorithm}, an insecure algorithm`;
    }
  }
  return 'uses an insecure algorithm (key size or signature)';
}
