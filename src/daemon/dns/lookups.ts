/**
 * The pool's DNS lookups: one validating resolver (made at the first lookup,
 * made anew after a reload), answers cached for their TTL, the same question
 * asked once however many handshakes wait for it, and failures cached too,
 * so that a dead resolver costs one timeout per FAILURE_TTL_S and not one
 * per handshake: after a lookup timed out, every lookup fails at once until
 * then (one that is not cached either). IGNORE_CACHES asks a resolver of its own, made for that one
 * lookup: libunbound's cache cannot be bypassed for one question.
 */
import type { Config } from '../../config';
import { type DnsAnswer, Resolver, type ResolverOptions, RRTYPE } from '../../addon/dns';
import type { Logger } from '../../log/logger';

/** Seconds a bogus or indeterminate answer is reused: how often a broken zone or a dead resolver is asked again. */
export const FAILURE_TTL_S = 60;
/** Seconds any answer is reused at most, whatever its TTL says. */
export const MAX_TTL_S = 3600;
/** Answers cached at most; the oldest go first. */
const MAX_ENTRIES = 10_000;

export interface Lookup extends DnsAnswer {
  /** The answer came from the cache (or joined a lookup in flight). */
  readonly cached: boolean;
}

interface Entry {
  readonly answer: DnsAnswer;
  readonly expires: number;
}

export class DnsLookups {
  private resolver: Resolver | undefined;
  private readonly cache = new Map<string, Entry>();
  private readonly inFlight = new Map<string, Promise<DnsAnswer>>();
  /** Until then the resolver is taken to be down (a lookup timed out): lookups fail at once instead of waiting. */
  private downUntil = 0;
  /** Lookups sent to the resolver (not answered from the cache): what tests and the log count. */
  sent = 0;

  constructor(
    private config: Config['dns'],
    private readonly log: Logger,
  ) {}

  /**
   * Make the resolver now, and start unbound's worker thread with a question
   * it answers itself (localhost.): the descriptors a resolver holds for its
   * life are then taken at start, not at some handshake.
   */
  start(): void {
    if (!this.config.enabled || this.resolver) return;
    try {
      this.resolver = new Resolver(this.options());
    } catch (e) {
      this.log.warn('the DNS resolver cannot be made; every lookup is indeterminate', { error: (e as Error).message });
      return;
    }
    void this.resolver.lookup('localhost.', RRTYPE.A, this.config.timeout * 1000);
  }

  /** The configuration was reloaded: a new resolver, nothing cached. */
  reset(config: Config['dns']): void {
    this.config = config;
    this.close();
    this.start();
  }

  close(): void {
    this.resolver?.close();
    this.resolver = undefined;
    this.cache.clear();
    this.inFlight.clear();
    this.downUntil = 0;
  }

  async lookup(name: string, rrtype: number, fresh = false): Promise<Lookup> {
    const key = `${rrtype} ${name.toLowerCase()}`;
    if (!fresh) {
      const hit = this.cache.get(key);
      if (hit && hit.expires > Date.now()) return { ...hit.answer, cached: true };
      const flying = this.inFlight.get(key);
      if (flying) return { ...(await flying), cached: true };
    }
    const asked = this.ask(name, rrtype, fresh);
    if (!fresh) this.inFlight.set(key, asked);
    const answer = await asked;
    if (this.inFlight.get(key) === asked) this.inFlight.delete(key);
    this.remember(key, answer);
    return { ...answer, cached: false };
  }

  private async ask(name: string, rrtype: number, fresh: boolean): Promise<DnsAnswer> {
    const timeoutMs = this.config.timeout * 1000;
    if (!fresh && this.downUntil > Date.now()) {
      const left = Math.ceil((this.downUntil - Date.now()) / 1000);
      return { security: 'indeterminate', records: [], nxdomain: false, ttl: 0, why: `the resolver did not answer lately; asked again in ${left} s` };
    }
    this.sent++;
    let resolver: Resolver;
    try {
      resolver = fresh ? new Resolver(this.options()) : (this.resolver ??= new Resolver(this.options()));
    } catch (e) {
      return this.failed(name, rrtype, { security: 'indeterminate', records: [], nxdomain: false, ttl: 0, why: (e as Error).message });
    }
    try {
      const answer = await resolver.lookup(name, rrtype, timeoutMs);
      if (answer.timedOut && !fresh) this.downUntil = Date.now() + FAILURE_TTL_S * 1000;
      if (answer.security === 'bogus' || answer.security === 'indeterminate') return this.failed(name, rrtype, answer);
      return answer;
    } finally {
      if (fresh) resolver.close();
    }
  }

  private failed(name: string, rrtype: number, answer: DnsAnswer): DnsAnswer {
    this.log.warn(answer.security === 'bogus' ? 'DNS answer is bogus' : 'DNS lookup failed', {
      name,
      rrtype,
      why: answer.why,
      reused_for_s: FAILURE_TTL_S,
    });
    return answer;
  }

  private remember(key: string, answer: DnsAnswer): void {
    const failed = answer.security === 'bogus' || answer.security === 'indeterminate';
    const ttl = failed ? FAILURE_TTL_S : Math.min(answer.ttl, MAX_TTL_S);
    this.cache.delete(key);
    if (ttl <= 0) return;
    if (this.cache.size >= MAX_ENTRIES) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(key, { answer, expires: Date.now() + ttl * 1000 });
  }

  private options(): ResolverOptions {
    const c = this.config;
    return {
      trustAnchorFiles: c.trust_anchors,
      forwarders: c.forwarders,
      resolvConf: '/etc/resolv.conf',
      stubs: Object.entries(c.stubs).map(([zone, addrs]) => ({ zone, addrs })),
    };
  }
}
