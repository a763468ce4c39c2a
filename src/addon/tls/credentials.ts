/**
 * Local credentials for the TLS engine: a certificate chain and its private
 * key (PEM, or a key URL such as a PKCS #11 URI), held natively.
 */
import { addon } from '../load';

/** The native object behind NativeCredentials. */
export interface NativeCredentialsObject {
  readonly closed: boolean;
  readonly chainDer: Buffer[];
  readonly keyOpen: boolean;
  setOcsp(der: Buffer | null): void;
  close(): void;
}

const native = addon as unknown as {
  TlsCredentials: new (chainPem: string, keyPem: string | null, keyUri: string | null) => NativeCredentialsObject;
};

/**
 * Loaded local credentials: a certificate chain (leaf first) and its private
 * key. Held natively and reused by every session that presents them; a
 * session keeps its own reference, so close() while a session uses them is
 * safe. Freed by close() or by the garbage collector.
 */
export interface NativeCredentials {
  readonly closed: boolean;
  /** The chain, leaf first (DER). Empty once closed. */
  readonly chainDer: Buffer[];
  /** Whether the private key is open (a token key opens at its first handshake). */
  readonly keyOpen: boolean;
  /** The OCSP response (DER) sessions staple for the leaf from now on; null: none. */
  setOcsp(der: Buffer | null): void;
  close(): void;
}

/**
 * Load a PEM chain (leaf first) with its private key: PEM text, or a key URL
 * such as a PKCS #11 URI ("pkcs11:token=...;object=...;type=private").
 * Throws an Error with `code` (EINVAL for unreadable input or a key that
 * does not belong to the leaf, ENOKEY for a key URL that cannot be opened).
 *
 * A pkcs11: key is not opened here: only the presence of a matching token is
 * checked. The first session that presents the credentials opens it on its
 * own thread, asking its `pin` option when the token wants a PIN; sessions
 * that need it meanwhile wait for that one opening.
 */
export function loadCredentials(chainPem: string, key: { pem: string } | { uri: string }): NativeCredentials {
  if ('pem' in key) return new native.TlsCredentials(chainPem, key.pem, null);
  return new native.TlsCredentials(chainPem, null, key.uri);
}
