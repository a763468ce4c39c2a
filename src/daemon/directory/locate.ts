/**
 * Where the directory of a domain is: the configured entry for it
 * (ldap.directories), else the DNS SRV record _ldap._tcp.DOMAIN through the
 * pool's validating resolver, its target's address looked up the same way.
 * A bogus answer is a refusal; an insecure one is good enough unless the
 * request requires DNSSEC. Also the pieces a search is made of: the base
 * from the domain's dc= components and the filter with the user escaped.
 */
import * as net from 'node:net';
import { RRTYPE, type Security } from '../../addon/dns';
import { Failure } from '../../model/failure';
import type { DnsLookups } from '../dns/lookups';
import { parseAddress, parseSrv, srvOrder } from '../dns/records';

export interface DirectoryPlace {
  /** ldap:// (StartTLS attempted) or ldaps:// */
  readonly scheme: 'ldap' | 'ldaps';
  /** The host the directory's certificate must name. */
  readonly host: string;
  /** The address to connect to (the host itself for a configured name: the system resolves it). */
  readonly address: string;
  readonly port: number;
  readonly base: string;
  /** How it was found: the configuration, or SRV (with what DNSSEC said of it). */
  readonly source: 'config' | 'srv';
  readonly srvName?: string;
  readonly srvSecurity?: Security;
}

export interface LocateOptions {
  readonly configured: Readonly<Record<string, string>>;
  /** undefined when the pool does no DNS (dns.enabled: false). */
  readonly lookups: DnsLookups | undefined;
  readonly requireDnssec: boolean;
  readonly fresh: boolean;
}

/** dc=example,dc=org for example.org. */
export function baseOf(domain: string): string {
  return domain
    .replace(/\.$/, '')
    .split('.')
    .map((label) => `dc=${label}`)
    .join(',');
}

/** RFC 4515 §3: the characters a value in a filter must escape, and any byte outside printable ASCII. */
export function escapeFilterValue(value: string): string {
  return [...Buffer.from(value, 'utf8')]
    .map((b) => (b < 0x20 || b > 0x7e || b === 0x2a || b === 0x28 || b === 0x29 || b === 0x5c ? `\\${b.toString(16).padStart(2, '0')}` : String.fromCharCode(b)))
    .join('');
}

export function userFilter(template: string, user: string): string {
  return template.split('{user}').join(escapeFilterValue(user));
}

/** A configured URL: ldap[s]://host[:port][/base]; the base defaults to the domain's dc= components. */
export function parseDirectoryUrl(url: string, domain: string): DirectoryPlace {
  const m = /^(ldaps?):\/\/(\[[^\]]+\]|[^/:]+)(?::(\d+))?(?:\/(.*))?$/.exec(url);
  if (!m) throw new Failure('EINVAL', `ldap.directories: ${url} is not an LDAP URL`);
  const scheme = m[1] as 'ldap' | 'ldaps';
  const host = m[2]!.replace(/^\[|\]$/g, '');
  const port = m[3] ? Number(m[3]) : scheme === 'ldaps' ? 636 : 389;
  const base = m[4] ? decodeURIComponent(m[4]) : baseOf(domain);
  return { scheme, host, address: host, port, base, source: 'config' };
}

/** The directory of `domain`; throws a Failure (with what DNS said) when there is none to ask. */
export async function locateDirectory(domain: string, opts: LocateOptions): Promise<DirectoryPlace> {
  const configured = opts.configured[domain.toLowerCase()];
  if (configured !== undefined) return parseDirectoryUrl(configured, domain);
  if (!opts.lookups) throw new Failure('ENOENT', `no directory for ${domain}: none in ldap.directories, and dns.enabled is false`);
  const srvName = `_ldap._tcp.${domain}`;
  const answer = await opts.lookups.lookup(srvName, RRTYPE.SRV, opts.fresh);
  dnsOk(answer.security, srvName, opts.requireDnssec, answer.why);
  const srv = srvOrder(answer.records.map(parseSrv).filter((s) => s !== undefined));
  const first = srv[0];
  if (!first || first.target === '.') throw new Failure('ENOENT', `no directory for ${domain}: no SRV record ${srvName}`);
  const address = net.isIP(first.target) ? first.target : await addressOf(first.target, opts);
  return {
    scheme: 'ldap',
    host: first.target,
    address,
    port: first.port,
    base: baseOf(domain),
    source: 'srv',
    srvName,
    srvSecurity: answer.security,
  };
}

function dnsOk(security: Security, name: string, requireDnssec: boolean, why: string | undefined): void {
  if (security === 'bogus') throw new Failure('EBADMSG', `DNSSEC: the answer for ${name} is bogus (signatures do not verify)`);
  if (security === 'indeterminate') throw new Failure('ENODATA', `no DNS answer for ${name} (${why ?? 'no reason given'})`);
  if (security === 'insecure' && requireDnssec) throw new Failure('EACCES', `REQUIRE_DNSSEC: the zone of ${name} is not signed`);
}

async function addressOf(host: string, opts: LocateOptions): Promise<string> {
  for (const rrtype of [RRTYPE.A, RRTYPE.AAAA]) {
    const answer = await opts.lookups!.lookup(host, rrtype, opts.fresh);
    dnsOk(answer.security, host, opts.requireDnssec, answer.why);
    const address = answer.records.map(parseAddress).find((a) => a !== undefined);
    if (address) return address;
  }
  throw new Failure('ENOENT', `the directory host ${host} has no address in DNS`);
}
