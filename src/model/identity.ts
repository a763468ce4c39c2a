/** A local identity as the control API and the UI show it. */

export interface IdentityInfo {
  readonly localid: string;
  readonly isDefault: boolean;
  /** A key file's path or a `pkcs11:` URI. */
  readonly keyRef: string;
  readonly subject: string;
  readonly issuer: string;
  readonly notAfter: string;
  readonly addedAt: string;
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
