/**
 * The names a certificate proves, and whether they cover an identity:
 * "example.org" needs a dNSName (a leftmost "*" covers one label);
 * "user@example.org" needs that rfc822Name, or a dNSName for the domain,
 * since a domain speaks for its users.
 */
import type { X509Certificate } from 'node:crypto';

export interface CertificateNames {
  readonly dns: string[];
  readonly email: string[];
  readonly cn?: string;
}

export function certificateNames(cert: X509Certificate): CertificateNames {
  const dns: string[] = [];
  const email: string[] = [];
  for (const entry of splitSan(cert.subjectAltName ?? '')) {
    const colon = entry.indexOf(':');
    const kind = entry.slice(0, colon);
    const value = unquote(entry.slice(colon + 1));
    if (kind === 'DNS') dns.push(value);
    else if (kind === 'email') email.push(value);
  }
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(cert.subject)?.[1];
  return { dns, email, cn };
}

/** Node lists SANs as `DNS:a, email:b`, quoting values that hold commas. */
function splitSan(san: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < san.length; i++) {
    const c = san[i];
    if (c === '"' && san[i - 1] !== '\\') quoted = !quoted;
    if (c === ',' && !quoted && san[i + 1] === ' ') {
      out.push(cur);
      cur = '';
      i++;
      continue;
    }
    cur += c;
  }
  if (cur) out.push(cur);
  return out;
}

function unquote(v: string): string {
  return v.startsWith('"') && v.endsWith('"') ? JSON.parse(v) : v;
}

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

