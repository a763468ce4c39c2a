/** A local identity as the control API and the UI show it. */

export interface IdentityInfo {
  readonly localid: string;
  readonly isDefault: boolean;
  /** A key file's path or a `pkcs11:` URI. */
  readonly keyRef: string;
  readonly subject: string;
  readonly issuer: string;
  readonly notAfter: string;
  /** Where the certificate stands now (validityOf). */
  readonly validity?: Validity;
  readonly addedAt: string;
}

/** Days from which a certificate counts as expiring soon. */
export const EXPIRING_DAYS = 30;

export type Validity = 'valid' | 'expiring' | 'expired' | 'not-yet-valid';

/** Where a certificate stands at `now`: for marks in lists and warnings. */
export function validityOf(c: { readonly notBefore: Date; readonly notAfter: Date }, now = new Date()): Validity {
  if (c.notAfter.getTime() < now.getTime()) return 'expired';
  if (c.notBefore.getTime() > now.getTime()) return 'not-yet-valid';
  if (c.notAfter.getTime() - now.getTime() < EXPIRING_DAYS * 86400_000) return 'expiring';
  return 'valid';
}

/** What to say about a certificate that is not simply valid ("expired on 2026-01-31"), or undefined. */
export function validityWarning(c: { readonly notBefore: Date; readonly notAfter: Date }, now = new Date()): string | undefined {
  const day = (d: Date) => d.toISOString().slice(0, 10);
  switch (validityOf(c, now)) {
    case 'expired':
      return `expired on ${day(c.notAfter)}`;
    case 'not-yet-valid':
      return `not valid before ${day(c.notBefore)}`;
    case 'expiring':
      return `expires on ${day(c.notAfter)}`;
    default:
      return undefined;
  }
}

/** A trust anchor of the pool's own (`tlspool trust add`), as the control API and the UI show it. */
export interface TrustAnchorInfo {
  /** SHA-256 of the DER, hex: what `tlspool trust remove` takes. */
  readonly sha256: string;
  readonly subject: string;
  /** Empty when the stored certificate does not parse. */
  readonly notAfter: string;
  readonly addedAt: string;
}
