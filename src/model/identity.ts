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
