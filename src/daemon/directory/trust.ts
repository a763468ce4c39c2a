/**
 * The directory as a trust path: a user@domain peer that PKIX and DANE do
 * not authenticate is accepted when its end-entity certificate is, byte for
 * byte, one its domain's directory publishes for that user, and the
 * directory was reached as securely as the request's REQUIRE_LDAP_* flags
 * demand. What it decides goes into the connection record:
 * "authenticated by the directory of DOMAIN (plain LDAP | LDAP over TLS | DANE)".
 */
import { certInfo } from '../../addon/tls/certs';
import { StartTlsFlag } from '../../protocol/constants';
import type { ErrnoName } from '../../protocol/errno';
import { Failure } from '../../model/failure';
import type { Refusal, Verdict } from '../tls/validation';
import { type DirectoryAnswer, type Directory, splitUser } from './directory';

export interface DirectoryJudgement {
  readonly verdict: Verdict | Refusal;
  readonly validation: string;
}

/** The ERROR packet holds 127 bytes, "TLS handshake failed: " included. */
const MESSAGE_ROOM = 127 - 'TLS handshake failed: '.length;
function fit(message: string): string {
  const bytes = Buffer.from(message, 'utf8');
  return bytes.length <= MESSAGE_ROOM ? message : `${bytes.subarray(0, MESSAGE_ROOM - 3).toString('utf8').replace(/\uFFFD+$/, '')}...`;
}

function refuse(code: ErrnoName | string, message: string, validation: string): DirectoryJudgement {
  return { verdict: { ok: false, code: code as ErrnoName, message: fit(message), alert: 'bad_certificate' }, validation };
}

/** How the directory was reached, as the connection record says it. */
export function reachedBy(a: DirectoryAnswer): 'plain LDAP' | 'LDAP over TLS' | 'DANE' {
  if (a.dane === true) return 'DANE';
  return a.certValid === true ? 'LDAP over TLS' : 'plain LDAP';
}

/** What REQUIRE_LDAP_* asks and this answer lacks, as "FLAG: what", or undefined. */
export function unmetFlags(a: DirectoryAnswer, flags: number): string | undefined {
  const cert = (flags & StartTlsFlag.REQUIRE_LDAP_CERT) !== 0;
  const dane = (flags & StartTlsFlag.REQUIRE_LDAP_DANE) !== 0;
  const name = cert && dane ? 'REQUIRE_LDAP_SECURITY' : cert ? 'REQUIRE_LDAP_CERT' : 'REQUIRE_LDAP_DANE';
  if (cert && a.certValid !== true) return `${name}: the directory of ${a.domain} is not trusted (${a.certValid})`;
  if (dane && a.dane !== true) return `${name}: directory ${a.place.host} not DANE-verified (${a.dane})`;
  return undefined;
}

export class DirectoryPath {
  constructor(private readonly directory: Directory) {}

  get enabled(): boolean {
    return this.directory.enabled;
  }

  /**
   * Whether the directory vouches for a peer that `refused` refused. The
   * identity is the remoteid the application named, else the certificate's
   * e-mail address; one that names no user leaves the refusal as it is.
   */
  async vouch(chainDer: Buffer[], remoteid: string, flags: number, refused: Refusal): Promise<DirectoryJudgement | undefined> {
    if (chainDer.length === 0 || refused.code === 'EBADMSG') return undefined;
    const identity = remoteid || certInfo(chainDer[0]!).rfc822Names[0] || '';
    if (!splitUser(identity)) return undefined;
    let answer: DirectoryAnswer;
    try {
      answer = await this.directory.lookup(identity, {
        requireDnssec: (flags & StartTlsFlag.REQUIRE_DNSSEC) !== 0,
        fresh: (flags & StartTlsFlag.IGNORE_CACHES) !== 0,
      });
    } catch (e) {
      const f = e instanceof Failure ? e : new Failure('EIO', (e as Error).message);
      return refuse(f.code, f.message, 'refused, directory not reached');
    }
    const leaf = chainDer[0]!;
    const where = `the directory of ${answer.domain}`;
    if (!answer.certificates.some((c) => c.equals(leaf))) {
      const what =
        answer.entries === 0 ? `has no entry for ${answer.user}`
        : answer.certificates.length === 0 ? `publishes no certificate for ${answer.user}`
        : `publishes another certificate for ${answer.user}`;
      return refuse('EACCES', `not trusted; ${where} ${what}`, 'refused, not published in the directory');
    }
    const unmet = unmetFlags(answer, flags);
    if (unmet) return refuse('EACCES', unmet, `refused, ${unmet.slice(0, unmet.indexOf(':'))}`);
    return { verdict: { ok: true, remoteid: identity }, validation: `authenticated by ${where} (${reachedBy(answer)})` };
  }
}
