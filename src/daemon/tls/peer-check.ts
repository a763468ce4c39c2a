/**
 * Whether the remote peer is who it must be. The chain it showed is judged
 * by PKIX (validation.ts) and, where the pool resolves DNS, by DNSSEC and
 * DANE (dns/policy.ts); a user@domain peer they refuse, by its domain's
 * directory when ldap.directory is on (directory/trust.ts). A check begins
 * when the STARTTLS names its peer, so that lookups run beside the
 * handshake, and decides once the chain is known.
 * Every way of judging a peer joins here, not in the STARTTLS code: it asks
 * one question (judge) and writes down one answer (how, and any warning).
 */
import { StartTlsFlag } from '../../protocol/constants';
import type { Role } from '../../model/connection';
import type { DnsCheck, DnsPolicy } from '../dns/policy';
import type { DirectoryPath } from '../directory/trust';
import type { Transport } from './fd-check';
import type { RevocationChecks } from './revocation';
import type { Refusal, Validator, Verdict } from './validation';

export interface PeerCheckRequest {
  readonly role: Role;
  readonly transport: Transport;
  /** What the application named ('' for none). */
  readonly remoteid: string;
  /** The connected socket's peer, "ADDR:PORT" / "[ADDR]:PORT". */
  readonly peerAddress?: string;
  /** The STARTTLS flags. */
  readonly flags: number;
}

export interface PeerJudgement {
  readonly verdict: Verdict | Refusal;
  /** How the peer was judged, for the connection record: "PKIX", "DANE-EE matched", … */
  readonly validation?: string;
  /** Set when the pool went on without what it would have liked (no DNS answer). */
  readonly warning?: string;
}

export class PeerChecks {
  constructor(
    private readonly validator: Validator,
    private readonly dns?: DnsPolicy,
    private readonly revocation?: RevocationChecks,
    private readonly directory?: DirectoryPath,
  ) {}

  /**
   * Why the pool cannot meet what `flags` require, or undefined when it can.
   * REQUIRE_LDAP_* only tighten the directory path: without it they are met.
   */
  unmet(flags: number): string | undefined {
    if (flags & StartTlsFlag.REQUIRE_DNSSEC && !this.dns?.enabled) {
      return 'REQUIRE_DNSSEC: DNSSEC validation is off in this pool (dns.enabled: false)';
    }
    return undefined;
  }

  /** Starts what judging this peer needs (its DNS lookups); throws a Failure for a request that cannot be served. */
  begin(req: PeerCheckRequest): PeerCheck {
    const dns = this.dns?.begin({
      role: req.role,
      transport: req.transport,
      remoteid: req.remoteid,
      peerAddress: req.peerAddress,
      requireDnssec: (req.flags & StartTlsFlag.REQUIRE_DNSSEC) !== 0,
      ignoreCaches: (req.flags & StartTlsFlag.IGNORE_CACHES) !== 0,
    });
    return new PeerCheck(this.validator, req, dns, this.revocation, this.directory?.enabled ? this.directory : undefined);
  }
}

/** One peer's check, begun with its STARTTLS. */
export class PeerCheck {
  constructor(
    private readonly validator: Validator,
    private readonly req: PeerCheckRequest,
    private readonly dns: DnsCheck | undefined,
    private readonly revocation?: RevocationChecks,
    private readonly directory?: DirectoryPath,
  ) {}

  /**
   * The verdict on the chain the peer showed (and the OCSP response it stapled, if any):
   * PKIX and DANE first; a user@domain peer they refuse may still be one its domain's
   * directory publishes; an accepted chain with an issuer is then checked for revocation.
   */
  async judge(chainDer: Buffer[], ocspDer?: Buffer): Promise<PeerJudgement> {
    const first = await this.byDnsAndPkix(chainDer);
    if (!first.verdict.ok) {
      if (!this.directory) return first;
      const { remoteid, flags } = this.req;
      // A certificate the directory publishes is vouched for as it is, like a DANE-EE key: no issuer to revoke it.
      return (await this.directory.vouch(chainDer, remoteid, flags, first.verdict)) ?? first;
    }
    // DANE-EE authenticates the key alone (RFC 7671 §5.1): there is no issuer to revoke it.
    if (!this.revocation || first.validation?.startsWith('DANE-EE')) return first;
    const peerRole = this.req.role === 'client' ? 'server' : 'client';
    const fresh = (this.req.flags & StartTlsFlag.IGNORE_CACHES) !== 0;
    const r = await this.revocation.check({ chainDer, ocspDer, peerRole, fresh });
    // A refusal is said as such ("refused, revoked"), not after what had accepted the chain.
    const validation = r.refusal ? r.validation : [first.validation, r.validation].filter(Boolean).join(', ') || undefined;
    const warning = [first.warning, r.warning].filter(Boolean).join('; ') || undefined;
    return { verdict: r.refusal ?? first.verdict, validation, warning };
  }

  private async byDnsAndPkix(chainDer: Buffer[]): Promise<PeerJudgement> {
    const pkix = () =>
      this.validator.validate({
        role: this.req.role,
        chainDer,
        remoteid: this.req.remoteid,
        ignoreCaches: (this.req.flags & StartTlsFlag.IGNORE_CACHES) !== 0,
      });
    if (!this.dns) {
      const verdict = pkix();
      return { verdict, validation: verdict.ok ? 'PKIX' : undefined };
    }
    return this.dns.decide(chainDer, pkix);
  }
}
