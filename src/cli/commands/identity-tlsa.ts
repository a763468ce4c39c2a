/** `tlspool identity tlsa ID`: the TLSA record (RFC 6698) to publish for a local identity, as `danetool --tlsa-rr` prints it. */
import { loadConfig } from '../../config';
import { openDb } from '../../store/db';
import { IdentityStore } from '../../store/identities';
import { associationData, tlsaRecord } from '../../daemon/dns/dane';
import { derOf, splitPemChain } from '../../util/pem';
import type { CommandSpec } from '../args';
import { UsageError } from '../args';

export const tlsaSpec = {
  name: 'identity tlsa',
  usage: 'identity tlsa ID [--usage 3] [--selector 1] [--matching 1] [--port 443] [--proto tcp|udp]',
  summary: 'print the TLSA record for an identity',
  options: {
    usage: { type: 'string' },
    selector: { type: 'string' },
    matching: { type: 'string' },
    port: { type: 'string' },
    proto: { type: 'string' },
    'state-dir': { type: 'string' },
    config: { type: 'string' },
  },
  help: {
    usage: '0 PKIX-TA, 1 PKIX-EE, 2 DANE-TA, 3 DANE-EE (default); TA records are for the last CA in the chain',
    selector: '0 the whole certificate, 1 its public key (default)',
    matching: '0 the data itself, 1 SHA-256 (default), 2 SHA-512',
    port: 'the port the record is for (default 443)',
    proto: 'tcp (default) or udp (DTLS)',
    'state-dir': 'state directory',
    config: 'configuration file',
  },
  positionals: true,
  operand: 'identity',
} satisfies CommandSpec<Record<string, { type: 'string' }>>;

function choice(value: unknown, name: string, max: number, dflt: number): number {
  if (value === undefined) return dflt;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > max || String(value).trim() === '') throw new UsageError(`tlspool identity tlsa: --${name} must be 0 to ${max}, got "${value}"`);
  return n;
}

export function identityTlsa(v: Record<string, unknown>, positionals: string[]): number {
  if (positionals.length !== 1) throw new UsageError('tlspool identity tlsa: give exactly one identity (see tlspool identity tlsa --help)');
  const id = positionals[0]!;
  const usage = choice(v.usage, 'usage', 3, 3);
  const selector = choice(v.selector, 'selector', 1, 1);
  const matching = choice(v.matching, 'matching', 2, 1);
  const port = choice(v.port, 'port', 65535, 443);
  const proto = (v.proto as string | undefined) ?? 'tcp';
  if (proto !== 'tcp' && proto !== 'udp') throw new UsageError(`tlspool identity tlsa: --proto must be tcp or udp, got "${proto}"`);
  const config = loadConfig({ flags: { state_dir: v['state-dir'] as string | undefined, config: v.config as string | undefined }, env: process.env });
  const db = openDb(config.state_dir);
  try {
    const identity = new IdentityStore(db).getIdentity(id);
    if (!identity) throw new Error(`no local identity ${id}; see: tlspool identity list`);
    const chain = splitPemChain(identity.chainPem).map(derOf);
    const ta = usage === 0 || usage === 2;
    if (ta && chain.length < 2) throw new Error(`the chain of ${id} holds no CA certificate for a TA record; use --usage 3 or 1`);
    const der = ta ? chain[chain.length - 1]! : chain[0]!;
    const data = associationData(der, selector, matching);
    const owner = `_${port}._${proto}.${id.slice(id.lastIndexOf('@') + 1)}`;
    process.stdout.write(`${tlsaRecord(owner, { usage, selector, matching, data })}\n`);
  } finally {
    db.close();
  }
  return 0;
}
