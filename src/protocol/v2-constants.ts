/** Command tags, flags, facilities and INFO kinds of the V2 protocol (docs/protocol.md, "V2"). */

export const V2Cmd = {
  SUCCESS: 0x00000000,
  ERROR: 0x00000001,
  PING: 0x00000010,
  STARTTLS: 0x00000024,
  STARTTLS_LOCALID: 0x00000028,
  PINENTRY: 0x00000029,
  PLAINTEXT_CONNECT: 0x0000002a,
  PRNG: 0x0000002b,
  INFO: 0x0000002c,
  CONTROL_DETACH: 0x00000100,
  CONTROL_REATTACH: 0x00000101,
  LIDENTRY_REGISTER: 0x00000200,
  LIDENTRY_CALLBACK: 0x00000201,
} as const;

export function v2CmdName(cmd: number): string {
  for (const [name, value] of Object.entries(V2Cmd)) if (value === cmd) return name;
  return `0x${(cmd >>> 0).toString(16).padStart(8, '0')}`;
}

/** The pool's identity in every V2 PING response. */
export const TLSPOOL_IDENTITY_V2 = '20151111api@tlspool.arpa2.net';

export const V2Facility = {
  STARTTLS: 0x00000001,
  STARTGSS: 0x00000002,
  STARTSSH: 0x00000004,
} as const;
/** What this pool offers: STARTTLS with PRNG, INFO and the control commands. */
export const V2_FACILITIES_OFFERED = V2Facility.STARTTLS;

export const V2StartTlsFlag = {
  LOCALROLE_CLIENT: 0x00000001,
  LOCALROLE_SERVER: 0x00000002,
  REMOTEROLE_CLIENT: 0x00000004,
  REMOTEROLE_SERVER: 0x00000008,
  DTLS: 0x00000100,
  WITHOUT_SNI: 0x00000200,
  IGNORE_CACHES: 0x00000400,
  REQUEST_REMOTEID: 0x00000800,
  IGNORE_REMOTEID: 0x00001000,
  DETACH: 0x00002000,
  FORK: 0x00004000,
  DOMAIN_REPRESENTS_USER: 0x00008000,
  LOCALID_CHECK: 0x00010000,
  RENEGOTIATE: 0x00020000,
  LOCALID_ONTHEFLY: 0x00040000,
} as const;

export const V2InfoKind = {
  PEERCERT_SUBJECT: 0x52800000,
  PEERCERT_ISSUER: 0x52800001,
  PEERCERT_SUBJECTALTNAME: 0x52800002,
  MYCERT_SUBJECT: 0x52800100,
  MYCERT_ISSUER: 0x52800101,
  MYCERT_SUBJECTALTNAME: 0x52800102,
  CHANBIND_TLS_UNIQUE: 0x59290000,
  CHANBIND_TLS_SERVER_END_POINT: 0x59290001,
  /** This pool's own: RFC 9266 tls-exporter (the original has no kind for it; 0x9266 as 0x5929 names RFC 5929). */
  CHANBIND_TLS_EXPORTER: 0x92660000,
} as const;

/** INFO `len` meaning "no value given": a query. */
export const INFO_QUERY = 0xffff;

/**
 * The tags only a V2 client sends first: a first packet with one of these
 * is V2 even when its last 12 bytes are late (protocol detection, rule 3).
 */
export const V2_ONLY_TAGS: ReadonlySet<number> = new Set([
  V2Cmd.STARTTLS,
  V2Cmd.PLAINTEXT_CONNECT,
  V2Cmd.PRNG,
  V2Cmd.INFO,
  V2Cmd.CONTROL_DETACH,
  V2Cmd.CONTROL_REATTACH,
  V2Cmd.LIDENTRY_REGISTER,
  V2Cmd.LIDENTRY_CALLBACK,
]);

/** `pioc_lidentry.flags`: registration bits (SKIP_, WANT_DBENTRY), callback bits, answer bits. */
export const V2LidFlag = {
  SKIP_DBENTRY: 0x00000080,
  SKIP_USER: 0x00000081,
  SKIP_DOMAIN_SAME: 0x00000082,
  SKIP_DOMAIN_ONEUP: 0x00000084,
  SKIP_DOMAIN_SUB: 0x00000086,
  SKIP_NOTROOT: 0x00000088,
  WANT_DBENTRY: 0x00000100,
  REGFLAGS: 0x00000fff,
  DBENTRY: 0x00001000,
  DBINSERT: 0x00002000,
  DBAPPEND: 0x00004000,
  DBREORDER: 0x00008000,
  NEW: 0x00100000,
  ONTHEFLY: 0x00200000,
} as const;
