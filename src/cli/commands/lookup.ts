/**
 * `tlspool lookup user@domain [--cert FILE]`: what the pool finds in the
 * global directory of a user's domain, as the daemon would look it up: the
 * SRV record and what DNSSEC says of it, the directory and how it was
 * reached, the certificates it publishes, and whether FILE is among them.
 * Asked afresh, with this process's own resolver (nothing cached).
 */
import * as fs from 'node:fs';
import { certInfo } from '../../addon/tls/certs';
import { loadConfig } from '../../config';
import { createLogger } from '../../log/logger';
import { Directory } from '../../daemon/directory/directory';
import { reachedBy } from '../../daemon/directory/trust';
import { DnsLookups } from '../../daemon/dns/lookups';
import { Validator } from '../../daemon/tls/validation';
import { openDb } from '../../store/db';
import { IdentityStore } from '../../store/identities';
import { derOf, hasPem } from '../../util/pem';
import { type CommandSpec, helpText, parse, UsageError } from '../args';

export const spec = {
  name: 'lookup',
  usage: 'lookup USER@DOMAIN [--cert FILE] [--state-dir DIR] [--config FILE]',
  summary: "show what the directory of a user's domain publishes for the user",
  options: {
    cert: { type: 'string' },
    'state-dir': { type: 'string' },
    config: { type: 'string' },
  },
  help: {
    cert: 'also say whether this certificate (PEM or DER) would be accepted on the directory\'s word',
    'state-dir': 'state directory (its trust anchors validate the directory\'s TLS certificate)',
    config: 'configuration file (its ldap and dns sections)',
  },
  positionals: true,
  operand: 'identity',
} satisfies CommandSpec<Record<string, { type: 'string' }>>;

function readCert(file: string): Buffer {
  const bytes = fs.readFileSync(file);
  const text = bytes.toString('latin1');
  return hasPem(text, 'CERTIFICATE') ? derOf(text) : bytes;
}

export async function lookup(argv: string[]): Promise<number> {
  const args = parse(spec, argv);
  if (!args) {
    process.stdout.write(helpText(spec));
    return 0;
  }
  if (args.positionals.length !== 1) throw new UsageError('tlspool lookup: give exactly one user@domain (see tlspool lookup --help)');
  const identity = args.positionals[0]!;
  const v = args.values as Record<string, string | undefined>;
  const config = loadConfig({ flags: { state_dir: v['state-dir'], config: v.config }, env: process.env });
  const wanted = v.cert === undefined ? undefined : readCert(v.cert);
  const db = openDb(config.state_dir);
  const log = createLogger('error');
  const lookups = new DnsLookups(config.dns, log);
  try {
    const directory = new Directory(lookups, () => config.ldap, () => config.dns.enabled, new Validator(new IdentityStore(db), config.tls), log);
    const a = await directory.lookup(identity, { requireDnssec: false, fresh: true });
    const p = a.place;
    const out: string[] = [];
    out.push(p.source === 'srv' ? `SRV: ${p.srvName} -> ${p.host}:${p.port} (DNSSEC ${p.srvSecurity})` : `SRV: not asked (ldap.directories names the directory of ${a.domain})`);
    const over = a.transport === 'starttls' ? 'StartTLS' : a.transport === 'ldaps' ? 'LDAPS' : 'plain LDAP';
    out.push(`directory: ${p.scheme}://${p.host}:${p.port}/${p.base} over ${over} (${reachedBy(a)})`);
    if (a.certValid !== true) out.push(`  its certificate: not validated (${a.certValid})`);
    if (a.dane !== true) out.push(`  DANE: ${a.dane}`);
    out.push(`entries: ${a.entries}`);
    for (const der of a.certificates) {
      const c = certInfo(der);
      out.push(`certificate: ${c.subject} sha256 ${c.sha256.replace(/:/g, '').toLowerCase()}`);
    }
    if (wanted) {
      const published = a.certificates.some((c) => c.equals(wanted));
      out.push(`--cert: ${published ? 'accepted' : 'refused'} (${published ? '' : 'not '}published for ${a.user})`);
    }
    process.stdout.write(`${out.join('\n')}\n`);
    return 0;
  } finally {
    lookups.close();
    db.close();
  }
}
