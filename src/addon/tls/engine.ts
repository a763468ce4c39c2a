/** Facts about the TLS engine as built: the GnuTLS version, and whether it takes a priority string. */
import { addon } from '../load';

const native = addon as unknown as {
  tlsGnutlsVersion: string;
  tlsCheckPriority(priority: string): PriorityProblem | null;
};

/** The GnuTLS version the addon runs with, e.g. "3.7.9". */
export const gnutlsVersion: string = native.tlsGnutlsVersion;

/** Why GnuTLS refuses a priority string. */
export interface PriorityProblem {
  /** 'GNUTLS_E_INVALID_REQUEST' (a word it does not know, or an empty one), 'GNUTLS_E_NO_PRIORITIES_WERE_SET' (nothing left enabled), … */
  gnutls: string;
  /** GnuTLS's sentence about it. */
  message: string;
  /** The byte offset in the string where GnuTLS stopped, when it said. */
  offset?: number;
}

/**
 * Whether GnuTLS accepts `priority` as a session's priority string, parsed
 * as startSession parses it (gnutls_priority_init2). Undefined when it does.
 */
export function checkPriority(priority: string): PriorityProblem | undefined {
  return native.tlsCheckPriority(priority) ?? undefined;
}
