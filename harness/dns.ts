/**
 * A real authoritative DNS server for tests: Knot DNS on 127.0.0.1 (UDP and
 * TCP, a free port) serving zones signed with ldns-signzone:
 *
 *   example.test           signed; its KSK is the trust anchor (trustAnchor)
 *   insecure.example.test  delegated without DS: provably unsigned
 *   bogus.example.test     delegated with DS, every signature tampered with
 *
 * Records are added per test (setRecords), the zone re-signed and reloaded
 * (knotc -b: the call returns once knot serves it). TLSA records come from
 * `danetool --tlsa-rr` (tlsaRecord), not from the code under test. stop()
 * ends knot and removes the directory; a process exit kills knot too.
 */
import { execFileSync } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir } from './daemon';
import { freePort, type Peer, startPeer } from './peers';

export const SECURE_ZONE = 'example.test';
export const INSECURE_ZONE = 'insecure.example.test';
export const BOGUS_ZONE = 'bogus.example.test';
const ZONES = [SECURE_ZONE, INSECURE_ZONE, BOGUS_ZONE] as const;
export type Zone = (typeof ZONES)[number];

export interface DnsRig {
  readonly port: number;
  /** The DNSKEY file of example.test's KSK: dns.trust_anchors. */
  readonly trustAnchor: string;
  /** dns.stubs for the pool: every zone to this server. */
  readonly stubs: Record<string, string[]>;
  /** Replace the records a test added to `zone` (zone file lines, names relative to the zone), re-sign, reload. */
  setRecords(zone: Zone, lines: string[]): void;
  stop(): Promise<void>;
}

function run(cmd: string, args: string[], cwd: string): string {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30000 });
}

/** A KSK and a ZSK for `zone` in `dir`: the base names ldns-keygen printed. */
function keys(dir: string, zone: string): { ksk: string; zsk: string } {
  const ksk = run('ldns-keygen', ['-a', 'ECDSAP256SHA256', '-k', zone], dir).trim();
  const zsk = run('ldns-keygen', ['-a', 'ECDSAP256SHA256', zone], dir).trim();
  return { ksk, zsk };
}

export async function startDnsRig(): Promise<DnsRig> {
  const dir = tempDir('tlspool-dns-');
  const port = await freePort('tcp');
  const zoneKeys = { [SECURE_ZONE]: keys(dir, SECURE_ZONE), [BOGUS_ZONE]: keys(dir, BOGUS_ZONE) } as Record<string, { ksk: string; zsk: string }>;
  const bogusDs = fs.readFileSync(path.join(dir, `${zoneKeys[BOGUS_ZONE]!.ksk}.ds`), 'utf8').trim();
  const extra: Record<Zone, string[]> = { [SECURE_ZONE]: [], [INSECURE_ZONE]: [], [BOGUS_ZONE]: [] };
  let serial = 1;

  const base: Record<Zone, string[]> = {
    [SECURE_ZONE]: ['ns A 127.0.0.1', 'insecure NS ns.insecure', 'ns.insecure A 127.0.0.1', 'bogus NS ns.bogus', 'ns.bogus A 127.0.0.1', bogusDs],
    [INSECURE_ZONE]: ['ns A 127.0.0.1'],
    [BOGUS_ZONE]: ['ns A 127.0.0.1'],
  };
  const write = (zone: Zone) => {
    const file = path.join(dir, `${zone}.zone`);
    const text = [
      `$ORIGIN ${zone}.`,
      '$TTL 300',
      `@ SOA ns.${zone}. hostmaster.${zone}. ${serial} 3600 600 86400 60`,
      '@ NS ns',
      ...base[zone],
      ...extra[zone],
      '',
    ].join('\n');
    fs.writeFileSync(file, text);
    const k = zoneKeys[zone];
    if (!k) return file;
    run('ldns-signzone', ['-f', `${file}.signed`, file, k.ksk, k.zsk], dir);
    if (zone === BOGUS_ZONE) tamper(`${file}.signed`);
    return `${file}.signed`;
  };
  const files = Object.fromEntries(ZONES.map((z) => [z, write(z)])) as Record<Zone, string>;
  const conf = path.join(dir, 'knot.conf');
  const control = path.join(dir, 'knot.sock');
  fs.writeFileSync(
    conf,
    [
      'server:',
      `  rundir: ${dir}`,
      `  listen: 127.0.0.1@${port}`,
      'log:',
      '  - target: stderr',
      '    any: info',
      'database:',
      `  storage: ${dir}`,
      'control:',
      `  listen: ${control}`,
      'template:',
      '  - id: default',
      `    storage: ${dir}`,
      '    zonefile-sync: -1',
      '    zonefile-load: whole',
      '    journal-content: none',
      'zone:',
      ...ZONES.flatMap((z) => [`  - domain: ${z}`, `    file: ${files[z]}`]),
      '',
    ].join('\n'),
  );
  const knot: Peer = startPeer('knotd', 'knotd', ['-c', conf], port);
  try {
    await knot.waitFor(/control, binding to/, 15000);
    for (const z of ZONES) await knot.waitFor(`[${z}.] loaded`, 15000);
  } catch (e) {
    await knot.stop();
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const stubs = Object.fromEntries(ZONES.map((z) => [z, [`127.0.0.1@${port}`]]));
  return {
    port,
    trustAnchor: path.join(dir, `${zoneKeys[SECURE_ZONE]!.ksk}.key`),
    stubs,
    setRecords(zone, lines) {
      extra[zone] = lines;
      serial++;
      write(zone);
      run('knotc', ['-s', control, '-b', 'zone-reload', zone], dir);
    },
    async stop() {
      await knot.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Make every signature in a signed zone file fail: flip a bit of its first base64 character. */
function tamper(file: string): void {
  const lines = fs.readFileSync(file, 'utf8').split('\n').map((line) => {
    const f = line.split(/\s+/);
    if (f[3] !== 'RRSIG') return line;
    const sig = f[f.length - 1]!;
    f[f.length - 1] = (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1);
    return f.join(' ');
  });
  fs.writeFileSync(file, lines.join('\n'));
}

export interface TlsaSpec {
  usage: 0 | 1 | 2 | 3;
  selector: 0 | 1;
  /** 1: SHA-256, 2: SHA-512 (danetool makes these; full data is not among its outputs). */
  matching: 1 | 2;
}

/** `danetool --tlsa-rr` for a certificate file: one TLSA line, owner _PORT._PROTO.HOST. */
export function tlsaRecord(certPath: string, host: string, port: number, spec: TlsaSpec, proto: 'tcp' | 'udp' = 'tcp'): string {
  const args = ['--tlsa-rr', `--host=${host}`, `--port=${port}`, `--proto=${proto}`, '--load-certificate', certPath];
  // danetool: --ca makes a TA record, --no-domain a PKIX-* one; its default is DANE-EE.
  if (spec.usage === 0 || spec.usage === 2) args.push('--ca');
  if (spec.usage === 0 || spec.usage === 1) args.push('--no-domain');
  if (spec.selector === 0) args.push('--x509');
  if (spec.matching === 2) args.push('--hash=sha512');
  return run('danetool', args, path.dirname(certPath)).trim();
}

/** An SRV record line (RFC 2782) for a zone file: `owner SRV priority weight port target.` */
export function srvRecord(owner: string, target: string, port: number, priority = 0, weight = 0): string {
  return `${owner} SRV ${priority} ${weight} ${port} ${target.endsWith('.') ? target : `${target}.`}`;
}

/** A UDP and TCP port that takes queries and never answers: a resolver that is down. */
export async function blackHole(): Promise<{ port: number; queries(): number; close(): Promise<void> }> {
  const sock = dgram.createSocket('udp4');
  let queries = 0;
  sock.on('message', () => queries++);
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(0, '127.0.0.1', () => resolve());
  });
  return {
    port: sock.address().port,
    queries: () => queries,
    close: () => new Promise((r) => sock.close(() => r())),
  };
}
