/**
 * DNS lookups through the addon's DNSSEC-validating resolver (libunbound,
 * native/src/dns): never blocking the event loop, each answer classified by
 * what DNSSEC proved about it, each lookup bounded in time.
 */
import { addon } from './load';
import { Failure } from '../model/failure';

interface RawAnswer {
  rcode: number;
  haveData: boolean;
  nxdomain: boolean;
  secure: boolean;
  bogus: boolean;
  ttl: number;
  whyBogus?: string;
  records: Buffer[];
  truncated: boolean;
}

interface NativeResolver {
  resolve(name: string, rrtype: number): number;
  cancel(id: number): void;
  close(): void;
}

const native = addon as unknown as {
  DnsResolver: new (opts: object, onAnswer: (id: number, error: Error | null, answer: RawAnswer) => void) => NativeResolver;
  unboundVersion: string;
};

/**
 * secure: DNSSEC proved the answer (records or their absence);
 * insecure: DNSSEC proved the zone unsigned; bogus: signatures that do not
 * verify (an attack, or a broken zone); indeterminate: no answer at all
 * (timeout, unreachable servers, SERVFAIL).
 */
export type Security = 'secure' | 'insecure' | 'bogus' | 'indeterminate';

export interface DnsAnswer {
  readonly security: Security;
  /** RDATA of each record (at most 64), when the name has records of the type. */
  readonly records: Buffer[];
  /** The name does not exist (or has no records of this type: then records is empty and nxdomain false). */
  readonly nxdomain: boolean;
  /** Seconds the answer may be kept (DNS TTL; for a denial, the SOA's negative TTL). */
  readonly ttl: number;
  /** Why it is bogus or indeterminate, in libunbound's words (bounded). */
  readonly why?: string;
  /** Indeterminate because no answer came in time: the servers may be down. */
  readonly timedOut?: boolean;
}

export interface ResolverOptions {
  /** Files of DNSKEY/DS records (zone file format) to validate from. */
  trustAnchorFiles: string[];
  /** Servers (ADDR or ADDR@PORT) to forward to; empty: those of resolvConf. */
  forwarders: string[];
  /** A resolv.conf(5) whose nameservers to forward to when there are no forwarders. */
  resolvConf?: string;
  /** Zones asked of particular servers. */
  stubs: Array<{ zone: string; addrs: string[] }>;
}

export const RRTYPE = { A: 1, SOA: 6, AAAA: 28, SRV: 33, TLSA: 52 } as const;

const RCODE_NAMES: Record<number, string> = { 1: 'FORMERR', 2: 'SERVFAIL', 4: 'NOTIMP', 5: 'REFUSED' };

export const unboundVersion = native.unboundVersion;

/** One libunbound context. Its configuration is fixed; close() drops pending lookups (they resolve indeterminate). */
export class Resolver {
  private readonly native: NativeResolver;
  private readonly pending = new Map<number, (a: DnsAnswer) => void>();
  private closed = false;

  /** Throws a Failure (EINVAL) for options libunbound refuses. */
  constructor(opts: ResolverOptions) {
    const options: Array<[string, string]> = [
      // The servers configured may well be on this host (a local resolver, a test's stub).
      ['do-not-query-localhost:', 'no'],
      // Hostile answers stay small: unbound's own bounds on what it accepts and keeps.
      ['edns-buffer-size:', '1232'],
      ['msg-cache-size:', '4m'],
      ['rrset-cache-size:', '4m'],
      ['key-cache-size:', '4m'],
      // A denial stands for as long as DnsLookups says, for the name asked: not synthesized for other
      // names from a cached NSEC range, which would hide a TLSA record published since (a new port).
      ['aggressive-nsec:', 'no'],
    ];
    this.native = new native.DnsResolver({ ...opts, options }, (id, error, answer) => this.answered(id, error, answer));
  }

  /** Always resolves: a failure is an indeterminate answer that says why. */
  lookup(name: string, rrtype: number, timeoutMs: number): Promise<DnsAnswer> {
    if (this.closed) return Promise.resolve(indeterminate('the resolver was closed'));
    let id: number;
    try {
      id = this.native.resolve(name, rrtype);
    } catch (e) {
      return Promise.resolve(indeterminate((e as Error).message));
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        this.native.cancel(id);
        resolve({ ...indeterminate(`no answer within ${timeoutMs / 1000} s`), timedOut: true });
      }, timeoutMs);
      timer.unref();
      this.pending.set(id, (a) => {
        clearTimeout(timer);
        resolve(a);
      });
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.native.close();
    const waiting = [...this.pending.values()];
    this.pending.clear();
    for (const done of waiting) done(indeterminate('the resolver was closed'));
  }

  private answered(id: number, error: Error | null, raw: RawAnswer): void {
    const done = this.pending.get(id);
    if (!done) return;
    this.pending.delete(id);
    done(error ? indeterminate(error.message) : classify(raw));
  }
}

function indeterminate(why: string): DnsAnswer {
  return { security: 'indeterminate', records: [], nxdomain: false, ttl: 0, why };
}

/** What DNSSEC proved: bogus first (unbound also says SERVFAIL then), then whether an answer came at all. */
function classify(raw: RawAnswer): DnsAnswer {
  const ttl = Number.isInteger(raw.ttl) && raw.ttl > 0 ? raw.ttl : 0;
  if (raw.bogus) return { security: 'bogus', records: [], nxdomain: false, ttl, why: raw.whyBogus ?? 'signatures do not verify' };
  if (raw.rcode !== 0 && raw.rcode !== 3) {
    return indeterminate(`the DNS answered ${RCODE_NAMES[raw.rcode] ?? `rcode ${raw.rcode}`}`);
  }
  const records = raw.haveData ? raw.records : [];
  return { security: raw.secure ? 'secure' : 'insecure', records, nxdomain: raw.nxdomain, ttl };
}

/** The resolver could not be made: for callers that want a Failure rather than the addon's error. */
export function resolverFailure(e: unknown): Failure {
  return new Failure('EINVAL', `the DNS resolver refuses its configuration: ${(e as Error).message}`);
}
