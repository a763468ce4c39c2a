/**
 * Revocation of a peer whose chain was accepted, beyond the CRL files the
 * trust store holds: the OCSP response the server stapled (always checked
 * when there is one), the must-staple TLS feature, and, by configuration,
 * the CRL the certificate's distribution point names. What cannot be had
 * (the fetch failed, the data is out of date) follows revocation.unreachable:
 * soft goes on with a warning, hard refuses.
 *
 *   stapled OCSP, valid:  revoked -> EKEYREVOKED; good and current -> accepted
 *   stapled, not valid (other certificate, bad signer) -> EACCES
 *   must-staple without a good current staple -> EACCES
 *   CRLDP (revocation.crldp): revoked -> EKEYREVOKED; else accepted
 *   nothing to be had -> soft: accepted + warning; hard: ENODATA
 */
import type { Config } from '../../config';
import { certInfo, type TrustStore } from '../../addon/tls/certs';
import { handshakeText as policy } from '../../addon/tls/failure';
import { checkCrl, checkOcsp, issuerOf, revocationInfo } from '../../addon/tls/revocation';
import { CrlCache } from './crl-fetch';
import type { Refusal } from './validation';

export interface RevocationRequest {
  /** The peer's chain, leaf first, already accepted. */
  readonly chainDer: Buffer[];
  /** The OCSP response the peer stapled, if any. */
  readonly ocspDer?: Buffer;
  readonly peerRole: 'client' | 'server';
  /** IGNORE_CACHES: fetch the CRL afresh. */
  readonly fresh: boolean;
}

export interface RevocationOutcome {
  readonly refusal?: Refusal;
  /** What revocation found, for the connection record ("OCSP good (stapled)", "CRL from URL (cached)"). */
  readonly validation?: string;
  readonly warning?: string;
}

/** Clock skew allowed on thisUpdate, and how long a response without nextUpdate counts as current. */
const SKEW_MS = 5 * 60_000;
const NO_NEXT_UPDATE_MS = 24 * 3600_000;

export class RevocationChecks {
  private readonly crls: CrlCache;

  constructor(
    private readonly config: () => Config['revocation'],
    private readonly trust: () => TrustStore,
  ) {
    this.crls = new CrlCache(() => this.config());
  }

  /** Forget fetched CRLs (the configuration was reloaded). */
  reset(): void {
    this.crls.clear();
  }

  async check(req: RevocationRequest): Promise<RevocationOutcome> {
    const leaf = req.chainDer[0];
    if (!leaf) return {};
    const info = revocationInfo(leaf);
    const issuer = issuerOf(req.chainDer, this.trust());
    // Accepted without an issuer (DANE-EE, a trusted self-signed certificate): nobody can revoke it.
    if (!issuer) return {};
    const c = certInfo(leaf);
    const who = c.rfc822Names[0] ?? c.dnsNames[0] ?? c.commonName ?? c.subject;
    const ctx: Ctx = { leaf, issuer, who, peerRole: req.peerRole };
    let note: string | undefined;
    if (req.ocspDer) {
      const r = this.stapled(req.ocspDer, ctx);
      if (r.outcome) return r.outcome;
      note = r.note;
    }
    if (info.mustStaple) {
      const why = note ?? 'none was stapled';
      return refuse('EACCES', policy`the ${req.peerRole} certificate for ${who} must come with OCSP (must-staple): ${why}`, 'bad_certificate');
    }
    const urls = info.crlDistributionPoints.filter((u) => /^http:\/\//i.test(u));
    if (!this.config().crldp || urls.length === 0) return note ? this.unknown(note, ctx) : {};
    return this.fromCrl(urls[0]!, ctx, req.fresh);
  }

  /** What a stapled response decides (outcome), or why it decides nothing (note). */
  private stapled(resp: Buffer, ctx: Ctx): { outcome?: RevocationOutcome; note?: string } {
    const r = checkOcsp(resp, ctx.leaf, ctx.issuer);
    if (!r.ok) {
      return { outcome: refuse('EACCES', policy`the ${ctx.peerRole}'s stapled OCSP response for ${ctx.who} is not valid: ${r.why}`, 'bad_certificate') };
    }
    if (r.status === 'revoked') {
      return { outcome: refuse('EKEYREVOKED', policy`the ${ctx.peerRole} certificate for ${ctx.who} has been revoked (stapled OCSP)`, 'certificate_revoked') };
    }
    if (r.status === 'unknown') return { note: 'the stapled OCSP response says unknown' };
    const stale = staleness(r.thisUpdate, r.nextUpdate);
    if (stale) return { note: `the stapled OCSP response ${stale}` };
    return { outcome: { validation: 'OCSP good (stapled)' } };
  }

  private async fromCrl(url: string, ctx: Ctx, fresh: boolean): Promise<RevocationOutcome> {
    const got = await this.crls.get(url, fresh);
    const from = `CRL from ${url}${got.cached ? ' (cached)' : ''}`;
    if (!got.ok) return this.unknown(`${from}: ${got.why}`, ctx);
    const r = checkCrl(got.crl, ctx.leaf, ctx.issuer);
    if (!r.ok) {
      this.crls.reject(url, `it is not valid: ${r.why}`);
      return this.unknown(`${from} is not valid: ${r.why}`, ctx);
    }
    const stale = staleness(r.thisUpdate, r.nextUpdate);
    if (stale) {
      this.crls.reject(url, stale);
      return this.unknown(`${from} ${stale}`, ctx);
    }
    if (!got.cached) this.crls.remember(url, got.crl, r.nextUpdate ?? new Date(Date.now() + NO_NEXT_UPDATE_MS));
    if (r.revoked) {
      return refuse('EKEYREVOKED', policy`the ${ctx.peerRole} certificate for ${ctx.who} has been revoked (CRL from ${url})`, 'certificate_revoked');
    }
    return { validation: from };
  }

  /** Revocation data that could not be had: a warning (soft) or a refusal (hard). */
  private unknown(why: string, ctx: Ctx): RevocationOutcome {
    if (this.config().unreachable === 'hard') {
      const refusal = refuse('ENODATA', policy`no revocation data for ${ctx.who} (revocation.unreachable: hard): ${why}`, 'bad_certificate');
      return { ...refusal, validation: 'refused, revocation unknown' };
    }
    return { validation: 'revocation unknown', warning: `revocation unknown: ${why}` };
  }
}

interface Ctx {
  readonly leaf: Buffer;
  readonly issuer: Buffer;
  readonly who: string;
  readonly peerRole: string;
}

/** Why revocation data issued at thisUpdate, next due at nextUpdate, is not current now; undefined when it is. */
export function staleness(thisUpdate: Date | null, nextUpdate: Date | null, now = Date.now()): string | undefined {
  if (thisUpdate && thisUpdate.getTime() > now + SKEW_MS) return `is issued in the future (${thisUpdate.toISOString()})`;
  if (nextUpdate && nextUpdate.getTime() < now) return `is out of date (next update was ${nextUpdate.toISOString()})`;
  if (!nextUpdate && (!thisUpdate || thisUpdate.getTime() < now - NO_NEXT_UPDATE_MS)) return 'has no next update and is over a day old';
  return undefined;
}

function refuse(code: Refusal['code'], message: string, alert: Refusal['alert']): RevocationOutcome {
  return { refusal: { ok: false, code, message, alert }, validation: code === 'EKEYREVOKED' ? 'refused, revoked' : 'refused, revocation' };
}
