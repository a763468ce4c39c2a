/**
 * The V2 error codes: the `tlsP` table of com_err codes, base -1167372288,
 * each code the base plus its position (append-only), and the Failure that
 * carries one. A TlspFailure also names a POSIX errno, so that the same
 * failure reads sensibly where only errnos travel (V1, the control API).
 */
import { Failure } from '../model/failure';
import type { ErrnoName } from './errno';

export const TLSP_BASE = -1167372288;

const NAMES = [
  'E_TLSPOOL_OUT_OF_MEMORY',
  'E_TLSPOOL_ENTANGLED_THREADS',
  'E_TLSPOOL_CLIENT_DISCONNECT',
  'E_TLSPOOL_CLIENT_REFUSES_CALLBACK',
  'E_TLSPOOL_COMMAND_NEEDED',
  'E_TLSPOOL_SUPERFLUOUS_SOCKET',
  'E_TLSPOOL_CIPHER_SOCKET_NEEDED',
  'E_TLSPOOL_PLAIN_SOCKET_NEEDED',
  'E_TLSPOOL_COMMAND_UNKNOWN',
  'E_TLSPOOL_COMMAND_NOTIMPL',
  'E_TLSPOOL_COMMAND_BAD_CALLBACK_RESPONSE',
  'E_TLSPOOL_FACILITY_STARTTLS',
  'E_TLSPOOL_FACILITY_STARTGSS',
  'E_TLSPOOL_FACILITY_STARTSSH',
  'E_TLSPOOL_CTLKEY_REGISTRATION_FAILED',
  'E_TLSPOOL_CTLKEY_NOT_FOUND',
  'E_TLSPOOL_CTLKEY_NOT_YOURS',
  'E_TLSPOOL_CTLKEY_DETACHED',
  'E_TLSPOOL_CTLKEY_ATTACHED',
  'E_TLSPOOL_RENOGIATE_NOT_FOUND',
  'E_TLSPOOL_RENOGIATE_NOT_INTERRUPTABLE',
  'E_TLSPOOL_RENOGIATE_WOULD_BE_INSECURE',
  'E_TLSPOOL_CONNECTION_HANDLER_SETUP',
  'E_TLSPOOL_CONNECTION_DRIVER_SETUP',
  'E_TLSPOOL_STIRRED_NOT_SHAKEN',
  'E_TLSPOOL_PRNG_UNAVAILABLE',
  'E_TLSPOOL_LIDENTRY_NOT_VACANT',
  'E_TLSPOOL_PINENTRY_NOT_VACANT',
  'E_TLSPOOL_INFOKIND_UNKNOWN',
  'E_TLSPOOL_INFO_NOT_FOUND',
] as const;

export type TlspName = (typeof NAMES)[number];

/** Name → code. */
export const Tlsp = Object.fromEntries(NAMES.map((n, i) => [n, TLSP_BASE + i])) as { readonly [K in TlspName]: number };

/** The table's name for a code, or undefined for a code outside it (a POSIX errno). */
export function tlspName(code: number): TlspName | undefined {
  const i = code - TLSP_BASE;
  return Number.isInteger(i) && i >= 0 && i < NAMES.length ? NAMES[i] : undefined;
}

/** The errno each table entry stands for where only errnos travel. */
const NEAREST_ERRNO: { readonly [K in TlspName]: ErrnoName } = {
  E_TLSPOOL_OUT_OF_MEMORY: 'ENOMEM',
  E_TLSPOOL_ENTANGLED_THREADS: 'EAGAIN',
  E_TLSPOOL_CLIENT_DISCONNECT: 'ECONNRESET',
  E_TLSPOOL_CLIENT_REFUSES_CALLBACK: 'ECANCELED',
  E_TLSPOOL_COMMAND_NEEDED: 'EINVAL',
  E_TLSPOOL_SUPERFLUOUS_SOCKET: 'EINVAL',
  E_TLSPOOL_CIPHER_SOCKET_NEEDED: 'EBADF',
  E_TLSPOOL_PLAIN_SOCKET_NEEDED: 'EBADF',
  E_TLSPOOL_COMMAND_UNKNOWN: 'ENOSYS',
  E_TLSPOOL_COMMAND_NOTIMPL: 'EOPNOTSUPP',
  E_TLSPOOL_COMMAND_BAD_CALLBACK_RESPONSE: 'EPROTO',
  E_TLSPOOL_FACILITY_STARTTLS: 'EACCES',
  E_TLSPOOL_FACILITY_STARTGSS: 'EACCES',
  E_TLSPOOL_FACILITY_STARTSSH: 'EACCES',
  E_TLSPOOL_CTLKEY_REGISTRATION_FAILED: 'EEXIST',
  E_TLSPOOL_CTLKEY_NOT_FOUND: 'ENOENT',
  E_TLSPOOL_CTLKEY_NOT_YOURS: 'EPERM',
  E_TLSPOOL_CTLKEY_DETACHED: 'EALREADY',
  E_TLSPOOL_CTLKEY_ATTACHED: 'EISCONN',
  E_TLSPOOL_RENOGIATE_NOT_FOUND: 'ENOENT',
  E_TLSPOOL_RENOGIATE_NOT_INTERRUPTABLE: 'EBUSY',
  E_TLSPOOL_RENOGIATE_WOULD_BE_INSECURE: 'EOPNOTSUPP',
  E_TLSPOOL_CONNECTION_HANDLER_SETUP: 'EIO',
  E_TLSPOOL_CONNECTION_DRIVER_SETUP: 'EIO',
  E_TLSPOOL_STIRRED_NOT_SHAKEN: 'EACCES',
  E_TLSPOOL_PRNG_UNAVAILABLE: 'EINVAL',
  E_TLSPOOL_LIDENTRY_NOT_VACANT: 'EBUSY',
  E_TLSPOOL_PINENTRY_NOT_VACANT: 'EBUSY',
  E_TLSPOOL_INFOKIND_UNKNOWN: 'EINVAL',
  E_TLSPOOL_INFO_NOT_FOUND: 'ENOENT',
};

/** A failure with a `tlsP` code for V2 clients (and its nearest errno for everyone else). */
export class TlspFailure extends Failure {
  readonly tlsp: TlspName;
  constructor(tlsp: TlspName, message: string, options?: ErrorOptions) {
    super(NEAREST_ERRNO[tlsp], message, options);
    this.tlsp = tlsp;
  }

  /** The code that travels in a V2 ERROR. */
  get tlspCode(): number {
    return Tlsp[this.tlsp];
  }
}

/** What a V2 ERROR carries for anything thrown: its table code, else its errno. */
export function v2ErrorCode(e: unknown, errno: number): number {
  return e instanceof TlspFailure ? e.tlspCode : errno;
}
