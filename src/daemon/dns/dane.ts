/**
 * DANE (RFC 6698, RFC 7671): TLSA records, and whether a peer's chain is
 * authenticated by them. DANE-EE(3): the end-entity certificate or key
 * itself, no CA, no name, no date. DANE-TA(2): a certificate of the chain is
 * the trust anchor; the chain must lead to it, and the leaf must name the
 * host. PKIX-TA(0) / PKIX-EE(1): PKIX validation as without DANE, and a CA /
 * the leaf of the chain must match too.
 */
import * as crypto from 'node:crypto';
import { certInfo, verifyChain } from '../../addon/tls/certs';
import { nameMatches } from '../../store/names';
import { pem } from '../../util/pem';

export const Usage = { PKIX_TA: 0, PKIX_EE: 1, DANE_TA: 2, DANE_EE: 3 } as const;
export const USAGE_NAMES = ['PKIX-TA', 'PKIX-EE', 'DANE-TA', 'DANE-EE'] as const;

export interface Tlsa {
  readonly usage: number;
  readonly selector: number;
  readonly matching: number;
  readonly data: Buffer;
}

/** Association data longer than this is not a certificate anyone sends (hostile input stays bounded). */
const MAX_DATA = 16 * 1024;
const DIGEST_LENGTH: Record<number, number> = { 1: 32, 2: 64 };

/** One TLSA RDATA, or undefined when it is too short to be one. */
export function parseTlsa(rdata: Buffer): Tlsa | undefined {
  if (rdata.length < 4 || rdata.length > MAX_DATA + 3) return undefined;
  return { usage: rdata[0]!, selector: rdata[1]!, matching: rdata[2]!, data: Buffer.from(rdata.subarray(3)) };
}

/** RFC 7671 §4.1: records with unknown parameters (or a digest of the wrong length) are unusable and ignored. */
export function usable(t: Tlsa): boolean {
  if (t.usage > 3 || t.selector > 1 || t.matching > 2) return false;
  const len = DIGEST_LENGTH[t.matching];
  return len === undefined || t.data.length === len;
}

/** The bytes a selector picks from a certificate: all of it (0), or its SubjectPublicKeyInfo (1). */
export function selected(der: Buffer, selector: number): Buffer {
  if (selector === 0) return der;
  return new crypto.X509Certificate(der).publicKey.export({ type: 'spki', format: 'der' });
}

/** The association data of a certificate for a selector and matching type: what a TLSA record holds. */
export function associationData(der: Buffer, selector: number, matching: number): Buffer {
  const bytes = selected(der, selector);
  if (matching === 0) return bytes;
  return crypto.createHash(matching === 1 ? 'sha256' : 'sha512').update(bytes).digest();
}

function matches(t: Tlsa, der: Buffer): boolean {
  try {
    const want = associationData(der, t.selector, t.matching);
    return want.length === t.data.length && crypto.timingSafeEqual(want, t.data);
  } catch {
    return false; // a certificate node cannot parse matches nothing
  }
}

export type DaneOutcome =
  | { readonly ok: true; readonly outcome: string }
  /** No record authenticates the chain; `pkixFailed`: a PKIX-TA/PKIX-EE record matched, and PKIX itself refused. */
  | { readonly ok: false; readonly pkixFailed: boolean; readonly why: string };

export interface DaneInput {
  readonly records: readonly Tlsa[];
  readonly chainDer: Buffer[];
  /** The identity the leaf must name for DANE-TA (the application's remoteid). */
  readonly remoteid: string;
  readonly purpose: 'server' | 'client';
  /** PKIX validation as the pool does it without DANE (for PKIX-TA / PKIX-EE). */
  readonly pkixOk: () => boolean;
}

/** Whether usable TLSA records authenticate this chain (RFC 7671 §5: any one record that matches does). */
export function daneVerify(input: DaneInput): DaneOutcome {
  const { records, chainDer } = input;
  const leaf = chainDer[0]!;
  const by = (u: number) => records.filter((t) => t.usage === u);
  if (by(Usage.DANE_EE).some((t) => matches(t, leaf))) return { ok: true, outcome: 'DANE-EE matched' };
  let why = 'no record matches the certificate';
  for (const t of by(Usage.DANE_TA)) {
    for (let i = 1; i < chainDer.length; i++) {
      if (!matches(t, chainDer[i]!)) continue;
      const chained = verifyChain(chainDer.slice(0, i + 1), { anchorsPem: [pem('CERTIFICATE', chainDer[i]!)], purpose: input.purpose });
      if (!chained.ok) {
        why = `the chain does not verify to the DANE-TA (${chained.status.join(', ')})`;
        continue;
      }
      const c = certInfo(leaf);
      if (input.remoteid && !nameMatches(input.remoteid, { dns: c.dnsNames, email: c.rfc822Names, cn: c.commonName })) {
        why = `DANE-TA matched, but the certificate is not for ${input.remoteid}`;
        continue;
      }
      return { ok: true, outcome: 'DANE-TA matched' };
    }
  }
  const pkixRecords = [...by(Usage.PKIX_TA), ...by(Usage.PKIX_EE)];
  if (pkixRecords.length === 0) return { ok: false, pkixFailed: false, why };
  const pkixMatch =
    by(Usage.PKIX_EE).some((t) => matches(t, leaf)) ? 'PKIX-EE'
    : by(Usage.PKIX_TA).some((t) => chainDer.slice(1).some((der) => matches(t, der))) ? 'PKIX-TA'
    : undefined;
  if (pkixMatch === undefined) return { ok: false, pkixFailed: false, why };
  if (!input.pkixOk()) return { ok: false, pkixFailed: true, why: `${pkixMatch} matched, but PKIX refuses the chain` };
  return { ok: true, outcome: `${pkixMatch} matched` };
}

/** A TLSA record in presentation form, as `danetool --tlsa-rr` prints it (owner with its final dot). */
export function tlsaRecord(owner: string, t: Tlsa): string {
  const n = (v: number) => String(v).padStart(2, '0');
  const fqdn = owner.endsWith('.') ? owner : `${owner}.`;
  return `${fqdn} IN TLSA ( ${n(t.usage)} ${n(t.selector)} ${n(t.matching)} ${t.data.toString('hex')} )`;
}
