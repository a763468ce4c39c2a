/**
 * What DNSSEC and DANE decide about a peer (README, "DNSSEC and DANE"). A
 * check begins when the STARTTLS names its peer, so the lookup runs while
 * the handshake does, and decides when the peer's chain is known:
 *
 *   TLSA answer          client                 with REQUIRE_DNSSEC
 *   secure, usable       DANE decides (PKIX-*: and PKIX)
 *   secure, none         PKIX
 *   insecure             PKIX                   refused (EACCES)
 *   bogus                refused (EBADMSG)      refused (EBADMSG)
 *   indeterminate        dns.unreachable:       refused (ENODATA)
 *                        pkix + warning, or refused (ENODATA)
 *
 * A server checks only under REQUIRE_DNSSEC: the zone of the client's
 * domain (the remoteid it named, else the one proven) must be secure.
 */
import type { Config } from '../../config';
import { type DnsAnswer, RRTYPE } from '../../addon/dns';
import type { Role } from '../../model/connection';
import type { ErrnoName } from '../../protocol/errno';
import { Failure } from '../../model/failure';
import { provenIdentity } from '../../store/names';
import { certInfo } from '../../addon/tls/certs';
import type { Refusal, Verdict } from '../tls/validation';
import { daneVerify, parseTlsa, type Tlsa, usable } from './dane';
import type { DnsLookups, Lookup } from './lookups';

export interface DnsCheckRequest {
  readonly role: Role;
  readonly transport: 'tls' | 'dtls';
  /** What the application named ('' for none). */
  readonly remoteid: string;
  /** The connected socket's peer, "ADDR:PORT" / "[ADDR]:PORT". */
  readonly peerAddress?: string;
  readonly requireDnssec: boolean;
  readonly ignoreCaches: boolean;
}

export interface DnsDecision {
  readonly verdict: Verdict | Refusal;
  /** How the peer was judged, for the connection record: "DANE-EE matched", "PKIX, zone insecure", … */
  readonly validation: string;
  /** Set when the pool went on without what it would have liked (no DNS answer). */
  readonly warning?: string;
}

export class DnsPolicy {
  constructor(
    private readonly lookups: DnsLookups,
    private readonly config: () => Config['dns'],
  ) {}

  get enabled(): boolean {
    return this.config().enabled;
  }

  /** Starts the lookup this STARTTLS needs, if any; throws a Failure for a request DNSSEC cannot serve. */
  begin(req: DnsCheckRequest): DnsCheck | undefined {
    if (!this.enabled) return undefined;
    if (req.role === 'server') return req.requireDnssec ? new ServerCheck(this.lookups, req) : undefined;
    const host = hostOf(req.remoteid);
    const port = req.peerAddress?.slice(req.peerAddress.lastIndexOf(':') + 1);
    if (host === undefined || !port) {
      if (req.requireDnssec) throw new Failure('EINVAL', 'REQUIRE_DNSSEC needs a remoteid that names the server host (a domain or user@domain)');
      return undefined;
    }
    return new ClientCheck(this.lookups, this.config(), req, `_${port}._${req.transport === 'dtls' ? 'udp' : 'tcp'}.${host}`);
  }
}

export interface DnsCheck {
  decide(chainDer: Buffer[], pkix: () => Verdict | Refusal): Promise<DnsDecision>;
}

/** The host an identity names (the domain of user@domain), or undefined for an IP literal. */
function hostOf(remoteid: string): string | undefined {
  if (!remoteid) return undefined;
  const host = remoteid.slice(remoteid.lastIndexOf('@') + 1).replace(/\.$/, '');
  if (/^[\d.]+$/.test(host) || host.includes(':') || host.startsWith('[')) return undefined;
  return host;
}

/** The ERROR packet holds 127 bytes, "TLS handshake failed: " included: advice only when it fits. */
const MESSAGE_ROOM = 127 - 'TLS handshake failed: '.length;
function fit(message: string, advice: string): string {
  return Buffer.byteLength(message + advice) <= MESSAGE_ROOM ? message + advice : message;
}

function refuse(code: ErrnoName, message: string, validation: string): DnsDecision {
  return { verdict: { ok: false, code, message, alert: 'bad_certificate' }, validation };
}

/** A refusal for a zone that is not secure, or undefined when it is. */
function notSecure(answer: DnsAnswer, name: string, requireDnssec: boolean): DnsDecision | undefined {
  switch (answer.security) {
    case 'secure':
      return undefined;
    case 'bogus':
      return refuse('EBADMSG', `DNSSEC: the answer for ${name} is bogus (signatures do not verify); check the zone`, 'refused, DNS bogus');
    case 'insecure':
      return requireDnssec ? refuse('EACCES', `REQUIRE_DNSSEC: the zone of ${name} is not signed (DNSSEC insecure)`, 'refused, zone insecure') : undefined;
    case 'indeterminate':
      return refuse('ENODATA', `no DNS answer for ${name} (${answer.why ?? 'no reason given'}); check dns.forwarders`, 'refused, DNS indeterminate');
  }
}

class ClientCheck implements DnsCheck {
  private readonly answer: Promise<Lookup>;

  constructor(
    lookups: DnsLookups,
    private readonly config: Config['dns'],
    private readonly req: DnsCheckRequest,
    private readonly name: string,
  ) {
    this.answer = lookups.lookup(name, RRTYPE.TLSA, req.ignoreCaches);
  }

  async decide(chainDer: Buffer[], pkix: () => Verdict | Refusal): Promise<DnsDecision> {
    const { req, name } = this;
    const answer = await this.answer;
    const cached = answer.cached ? ' (cached)' : '';
    if (answer.security === 'indeterminate' && !req.requireDnssec && this.config.unreachable === 'pkix') {
      const warning = `no DNS answer for TLSA ${name}${cached}: ${answer.why ?? 'no reason given'}; validated with PKIX only`;
      return { verdict: pkix(), validation: 'PKIX, DNS indeterminate', warning };
    }
    const refused = notSecure(answer, name, req.requireDnssec);
    if (refused) return refused;
    if (answer.security === 'insecure') return { verdict: pkix(), validation: 'PKIX, zone insecure' };
    if (chainDer.length === 0) return { verdict: pkix(), validation: 'refused, no certificate' };
    const records = answer.records.map(parseTlsa).filter((t): t is Tlsa => t !== undefined && usable(t));
    if (records.length === 0) {
      return { verdict: pkix(), validation: answer.records.length === 0 ? 'PKIX, no TLSA (secure denial)' : 'PKIX, no usable TLSA' };
    }
    let pkixResult: Verdict | Refusal | undefined;
    const pkixOnce = () => (pkixResult ??= pkix());
    const dane = daneVerify({ records, chainDer, remoteid: req.remoteid, purpose: 'server', pkixOk: () => pkixOnce().ok });
    if (dane.ok) {
      const c = certInfo(chainDer[0]!);
      const remoteid = req.remoteid || provenIdentity({ dns: c.dnsNames, email: c.rfc822Names, cn: c.commonName });
      return { verdict: { ok: true, remoteid }, validation: dane.outcome };
    }
    if (dane.pkixFailed && pkixResult && !pkixResult.ok) return { verdict: pkixResult, validation: 'refused, PKIX (TLSA PKIX-*)' };
    return refuse('EACCES', fit(`TLSA did not match: ${dane.why}`, `; see ${name}`), 'refused, TLSA mismatch');
  }
}

class ServerCheck implements DnsCheck {
  private early: Promise<Lookup> | undefined;
  private readonly domain: string | undefined;

  constructor(
    private readonly lookups: DnsLookups,
    private readonly req: DnsCheckRequest,
  ) {
    this.domain = hostOf(req.remoteid);
    if (this.domain) this.early = lookups.lookup(this.domain, RRTYPE.SOA, req.ignoreCaches);
  }

  async decide(chainDer: Buffer[], pkix: () => Verdict | Refusal): Promise<DnsDecision> {
    const verdict = pkix();
    if (!verdict.ok) return { verdict, validation: 'refused, PKIX' };
    const domain = this.domain ?? hostOf(verdict.remoteid);
    if (!domain) return refuse('EACCES', 'REQUIRE_DNSSEC: the client certificate names no domain to check in DNS', 'refused, no domain');
    const answer = await (this.early ?? this.lookups.lookup(domain, RRTYPE.SOA, this.req.ignoreCaches));
    return notSecure(answer, domain, true) ?? { verdict, validation: 'PKIX, client zone secure' };
  }
}
