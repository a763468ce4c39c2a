/** Command tags, flags and identities of the V1 protocol (docs/protocol.md). */

export const Cmd = {
  SUCCESS: 0x00000000,
  ERROR: 0x00000001,
  PING: 0x00000010,
  STARTTLS_CLIENT: 0x00000020,
  STARTTLS_SERVER: 0x00000021,
  STARTTLS_LOCALID: 0x00000028,
  PINENTRY: 0x00000029,
} as const;
export type CmdName = keyof typeof Cmd;

/** Bit that marks project-local extensions. */
export const CMD_LOCAL = 0x80000000;

/**
 * Project-local commands (the LOCAL bit set). Their payload is the
 * pioc_pinentry layout; the pool answers SUCCESS or ERROR.
 *  LOCK: forget every cached PIN and log out every token the pool unlocked.
 *  TOKEN_STATE: is the token named by the token_* fields unlocked in the
 *    pool? Answered with the same packet, `flags` bit 0x1 set when it is.
 *  LOOP_STATS: the daemon's event-loop delay since the last reset, as JSON
 *    in `prompt` (microseconds); `flags` bit 0x1 in the request resets the
 *    histogram after reading. For benchmarks and monitoring.
 */
export const LocalCmd = {
  LOCK: 0x80000001,
  TOKEN_STATE: 0x80000002,
  LOOP_STATS: 0x80000003,
} as const;

export function cmdName(cmd: number): string {
  for (const [name, value] of Object.entries(Cmd)) if (value === cmd) return name;
  for (const [name, value] of Object.entries(LocalCmd)) if (value === cmd) return `LOCAL_${name}`;
  return `0x${(cmd >>> 0).toString(16).padStart(8, '0')}`;
}

export const StartTlsFlag = {
  DTLS: 0x00000001,
  REQUIRE_DNSSEC: 0x00000010,
  REQUIRE_LDAP_CERT: 0x00000020,
  REQUIRE_LDAP_DANE: 0x00000040,
  SKIP_EXT_AUTHN: 0x00000080,
  BYPASS_EXT_AUTHZ: 0x00000100,
  SEND_SNI: 0x00000200,
  IGNORE_CACHES: 0x00000400,
  REQUEST_REMOTEID: 0x00000800,
  IGNORE_REMOTEID: 0x00001000,
} as const;

export const PinEntryFlag = {
  SHARED: 0x00000001,
} as const;

export const IpProto = {
  TCP: 6,
  UDP: 17,
  SCTP: 132,
} as const;

/** The pool's identity in every PING response: semantics V1 and its producer. */
export const TLSPOOL_IDENTITY_V1 = '20130710tlspool@openfortress.nl';

