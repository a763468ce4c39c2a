/**
 * The global directory of a user's domain: where it is (locate.ts), what it
 * publishes for the user (search.ts), and how far the pool can believe it:
 * was the directory reached over TLS, does its certificate validate as a
 * domain certificate does (PKIX against the pool's anchors or ldap.ca_file,
 * or DANE), does a secure TLSA record for it match. Answers are cached for
 * ldap.cache_ttl, failures for at most FAILURE_TTL_S of it (a directory that
 * is down costs one timeout per period, not one per handshake); a fresh
 * lookup (IGNORE_CACHES) replaces what is cached.
 */
import * as fs from 'node:fs';
import { RRTYPE } from '../../addon/dns';
import { verifyChain } from '../../addon/tls/certs';
import type { Config } from '../../config';
import type { Logger } from '../../log/logger';
import { Failure } from '../../model/failure';
import { nameMatches } from '../../store/names';
import { certInfo } from '../../addon/tls/certs';
import { daneVerify, parseTlsa, type Tlsa, usable } from '../dns/dane';
import type { DnsLookups } from '../dns/lookups';
import type { Validator } from '../tls/validation';
import { type DirectoryPlace, locateDirectory, userFilter } from './locate';
import { searchDirectory, type SearchResult } from './search';

export interface DirectoryAnswer {
  readonly domain: string;
  readonly user: string;
  readonly place: DirectoryPlace;
  readonly transport: SearchResult['transport'];
  readonly entries: number;
  readonly certificates: Buffer[];
  /** The directory's certificate validates as a domain certificate (PKIX or DANE); else why not. */
  readonly certValid: true | string;
  /** A secure TLSA record for the directory server matches its certificate; else why not. */
  readonly dane: true | string;
  readonly cached: boolean;
}

export interface DirectoryQuery {
  readonly requireDnssec: boolean;
  readonly fresh: boolean;
}

const MAX_ENTRIES = 10_000;
/** Seconds a failed lookup is remembered at most (and never longer than ldap.cache_ttl). */
export const FAILURE_TTL_S = 60;

/** user@domain split, or undefined for an identity that names no user. */
export function splitUser(identity: string): { user: string; domain: string } | undefined {
  const at = identity.lastIndexOf('@');
  if (at <= 0 || at === identity.length - 1) return undefined;
  return { user: identity.slice(0, at), domain: identity.slice(at + 1).replace(/\.$/, '').toLowerCase() };
}

export class Directory {
  private readonly cache = new Map<string, { answer: DirectoryAnswer | Failure; expires: number }>();

  constructor(
    private readonly lookups: DnsLookups,
    private readonly config: () => Config['ldap'],
    private readonly dnsEnabled: () => boolean,
    private readonly validator: Pick<Validator, 'validate'>,
    private readonly log: Logger,
  ) {}

  get enabled(): boolean {
    return this.config().directory;
  }

  /** The configuration was reloaded: nothing cached stands. */
  reset(): void {
    this.cache.clear();
  }

  /** What the directory of `identity`'s domain publishes for its user; throws a Failure when it cannot be asked. */
  async lookup(identity: string, q: DirectoryQuery): Promise<DirectoryAnswer> {
    const who = splitUser(identity);
    if (!who) throw new Failure('EINVAL', `${identity} is not user@domain: there is no directory to ask`);
    const key = `${q.requireDnssec ? 1 : 0}\0${who.domain}\0${who.user}`;
    const hit = this.cache.get(key);
    if (!q.fresh && hit && hit.expires > Date.now()) {
      if (hit.answer instanceof Failure) throw new Failure(hit.answer.errno, hit.answer.message);
      return { ...hit.answer, cached: true };
    }
    try {
      const answer = await this.ask(who.user, who.domain, q);
      this.remember(key, answer, this.config().cache_ttl);
      return answer;
    } catch (e) {
      this.log.warn('directory lookup failed', { domain: who.domain, user: who.user, error: (e as Error).message });
      if (e instanceof Failure) this.remember(key, e, Math.min(this.config().cache_ttl, FAILURE_TTL_S));
      throw e;
    }
  }

  private async ask(user: string, domain: string, q: DirectoryQuery): Promise<DirectoryAnswer> {
    const c = this.config();
    const dns = this.dnsEnabled() ? this.lookups : undefined;
    const place = await locateDirectory(domain, { configured: c.directories, lookups: dns, requireDnssec: q.requireDnssec, fresh: q.fresh });
    const tlsa = dns && !/^[\d.:]+$/.test(place.host) ? dns.lookup(`_${place.port}._tcp.${place.host}`, RRTYPE.TLSA, q.fresh) : undefined;
    let found: SearchResult;
    try {
      found = await searchDirectory(place, userFilter(c.filter, user), c.timeout * 1000);
    } catch (e) {
      const f = e as Failure;
      throw new Failure(f.code as 'EIO', `the directory of ${domain} (${place.host}:${place.port}) ${f.message}`);
    }
    let certValid: true | string = 'reached over plain LDAP';
    let dane: true | string = 'reached over plain LDAP';
    if (found.serverChain.length > 0) {
      const pkix = this.validateServer(found.serverChain, place.host, q.fresh);
      dane = await this.daneOf(found.serverChain, place.host, tlsa, pkix === true);
      certValid = pkix === true || dane === true ? true : pkix;
    }
    this.log.info('directory searched', { domain, user, host: place.host, transport: found.transport, entries: found.entries, certificates: found.certificates.length });
    return { domain, user, place, transport: found.transport, entries: found.entries, certificates: found.certificates, certValid, dane, cached: false };
  }

  /** PKIX for the directory server, named by its host; true, or why not. */
  private validateServer(chain: Buffer[], host: string, fresh: boolean): true | string {
    const caFile = this.config().ca_file;
    if (caFile === undefined) {
      const v = this.validator.validate({ role: 'client', chainDer: chain, remoteid: host, ignoreCaches: fresh });
      return v.ok ? true : v.message;
    }
    let anchors: string;
    try {
      anchors = fs.readFileSync(caFile, 'utf8');
    } catch (e) {
      return `ldap.ca_file cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`;
    }
    const r = verifyChain(chain, { anchorsPem: [anchors], purpose: 'server' });
    if (!r.ok) return `its certificate does not validate (${r.status.join(', ')})`;
    const leaf = certInfo(chain[0]!);
    if (!nameMatches(host, { dns: leaf.dnsNames, email: leaf.rfc822Names, cn: leaf.commonName })) return `its certificate is not for ${host}`;
    return true;
  }

  private async daneOf(chain: Buffer[], host: string, pending: ReturnType<DnsLookups['lookup']> | undefined, pkixOk: boolean): Promise<true | string> {
    if (!pending) return 'no DNS in this pool';
    const answer = await pending;
    if (answer.security !== 'secure') return `TLSA answer ${answer.security}`;
    const records = answer.records.map(parseTlsa).filter((t): t is Tlsa => t !== undefined && usable(t));
    if (records.length === 0) return 'no TLSA record';
    const outcome = daneVerify({ records, chainDer: chain, remoteid: host, purpose: 'server', pkixOk: () => pkixOk });
    return outcome.ok ? true : `TLSA: ${outcome.why}`;
  }

  private remember(key: string, answer: DirectoryAnswer | Failure, ttl: number): void {
    this.cache.delete(key);
    if (ttl <= 0) return;
    if (this.cache.size >= MAX_ENTRIES) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(key, { answer, expires: Date.now() + ttl * 1000 });
  }
}
