/**
 * The names a certificate proves, and whether they cover an identity:
 * "example.org" needs a dNSName (a leftmost "*" covers one label);
 * "user@example.org" needs that rfc822Name, or a dNSName for the domain,
 * since a domain speaks for its users.
 */
import type { CertificateNames } from '../util/certificate';

export type { CertificateNames };

function dnsMatches(pattern: string, host: string): boolean {
  const p = pattern.toLowerCase();
  const h = host.toLowerCase().replace(/\.$/, '');
  if (p === h) return true;
  if (!p.startsWith('*.')) return false;
  const dot = h.indexOf('.');
  return dot > 0 && h.slice(dot + 1) === p.slice(2) && p.slice(2).includes('.');
}

/** Does a certificate with these names prove `identity`? */
export function nameMatches(identity: string, names: CertificateNames): boolean {
  const at = identity.lastIndexOf('@');
  if (at < 0) return names.dns.some((d) => dnsMatches(d, identity));
  const user = identity.slice(0, at);
  const domain = identity.slice(at + 1).toLowerCase();
  if (names.email.some((e) => e.lastIndexOf('@') >= 0 && e.slice(0, e.lastIndexOf('@')) === user && e.slice(e.lastIndexOf('@') + 1).toLowerCase() === domain)) {
    return true;
  }
  return names.dns.some((d) => dnsMatches(d, domain));
}

/** The identity a certificate proves when none was asked for: rfc822Name, else dNSName, else CN. */
export function provenIdentity(names: CertificateNames): string {
  return names.email[0] ?? names.dns[0] ?? names.cn ?? '';
}

