/** The PKCS #11 modules the TLS engine (GnuTLS, through p11-kit) loads, and logging out of a token. */
import { addon } from '../load';

const native = addon as unknown as {
  pkcs11Configure(modules: string[]): void;
  pkcs11Logout(tokenUrl: string): boolean;
};

/**
 * Choose the PKCS #11 modules GnuTLS loads: these files, or with an empty
 * list p11-kit's configuration. Once per process, before any key URL is
 * loaded (later calls throw EALREADY); without a call GnuTLS uses p11-kit's
 * configuration on first use.
 */
export function pkcs11Configure(modules: string[]): void {
  native.pkcs11Configure(modules);
}

/** C_Logout on the token a URL names: every key this process opened there needs a login again. False if no such token. */
export function pkcs11Logout(tokenUrl: string): boolean {
  return native.pkcs11Logout(tokenUrl);
}
