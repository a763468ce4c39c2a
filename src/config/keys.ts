/**
 * The keys of tlspool.yaml. A new section is one more entry here (and in
 * docs/configuration.md); the Config type follows from it.
 */
import { DISCLOSURE_CHOICES, settingRange } from '../model/settings';
import { ldapSchema } from './ldap-keys';
import { defaultPath } from './paths';
import { radiusSchema } from './radius-keys';
import { bool, dict, type Infer, int, list, object, oneOf, optional, path, str, union } from './schema';

/** POSIX portable group names (useradd's rule), so a typo is caught here rather than at bind time. */
const GROUP_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$/;
/** A DNS server: an IPv4 or IPv6 address, optionally @PORT (unbound's form). */
const DNS_SERVER = /^(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*)(?:@\d{1,5})?$/;
const dnsServer = () => str({ pattern: DNS_SERVER, expected: 'an IP address, optionally @PORT (192.0.2.53, 2001:db8::53@5353)' });
/** A DNS zone name: labels of letters, digits, hyphens and underscores; a trailing dot is allowed. */
const ZONE_NAME = /^(?:\.|(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.)*[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.?)$/;

/** A local identity's name, domain or user@domain (as the store checks it). */
const LOCAL_ID = /^(?:[^@\s]+@)?[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?$/;

export const configSchema = object({
  /** The V1 pool socket. */
  socket: path({ default: (ctx) => defaultPath.socket(ctx.env, ctx.uid) }),
  /** When set, the socket is mode 0660 and owned by this group instead of 0600. */
  socket_group: optional(
    union(
      str({ pattern: GROUP_NAME, expected: 'a group name' }),
      // 2^32 - 1 is (gid_t) -1, which means "no change" to chown.
      int({ min: 0, max: 2 ** 32 - 2, expected: 'a numeric gid' }),
    ),
  ),
  /** The control socket (JSON-RPC for the desktop app and tools); default: tlspool-control.sock beside the pool socket. */
  control_socket: optional(path()),
  state_dir: path({ default: (ctx) => defaultPath.state_dir(ctx.env, ctx.uid) }),
  log: object({
    level: oneOf(['debug', 'info', 'warn', 'error'], { default: 'info' }),
  }),
  tls: object({
    /** Trust the system's CA store (p11-kit / ca-certificates) besides `tlspool trust add`. */
    system_trust: bool({ default: true }),
    /** Extra PEM files of CA certificates to trust. */
    trust_files: list(path(), { default: [] }),
    /** PEM files of CRLs; a certificate they revoke is refused. */
    crl_files: list(path(), { default: [] }),
    /** Seconds a successful validation is reused (0: never). */
    validation_cache_ttl: int({ ...settingRange('validationCacheTtl'), default: 300 }),
    /** Seconds the network may take during a handshake. */
    handshake_timeout: int({ min: 1, max: 3600, default: 60 }),
    /** A GnuTLS priority string; the default is TLS 1.3 and 1.2, ECDHE (X25519 first) with AEAD ciphers. */
    priority: optional(str()),
  }),
  /** DNSSEC validation and DANE (docs/configuration.md, README "DNSSEC and DANE"). */
  dns: object({
    /** Look up TLSA records and check REQUIRE_DNSSEC with a validating resolver (libunbound) in the pool. */
    enabled: bool({ default: true }),
    /** Files of DNSKEY or DS records (zone file format) that DNSSEC validation starts from. */
    trust_anchors: list(path(), { default: ['/usr/share/dns/root.key'] }),
    /** DNS servers to ask (recursive resolvers); empty: the nameservers of /etc/resolv.conf. */
    forwarders: list(dnsServer(), { default: [] }),
    /** Zones to ask particular (authoritative) servers about, instead of the forwarders. */
    stubs: dict(list(dnsServer()), { key: ZONE_NAME, keyExpected: 'zone name' }),
    /** Seconds one lookup may take; then its answer counts as indeterminate. */
    timeout: int({ min: 1, max: 60, default: 2 }),
    /** No answer (resolver unreachable, timed out): validate with PKIX and warn, or refuse. */
    unreachable: oneOf(['pkix', 'refuse'], { default: 'pkix' }),
  }),
  /** Revocation beyond tls.crl_files: stapled OCSP (always checked), CRL distribution points, and our own staples. */
  revocation: object({
    /** With no stapled OCSP answer, fetch the CRL the peer's certificate names (HTTP); off: no network wait per handshake. */
    crldp: bool({ default: false }),
    /** Revocation data that cannot be had (fetch failed, stale OCSP, CRL out of date): go on with a warning, or refuse. */
    unreachable: oneOf(['soft', 'hard'], { default: 'soft' }),
    /** Seconds one CRL fetch may take. */
    fetch_timeout: int({ min: 1, max: 60, default: 3 }),
    /** Bytes a fetched CRL may have; a larger one counts as unreachable. */
    max_crl_size: int({ min: 1024, max: 64 * 1024 * 1024, default: 1024 * 1024 }),
    /** Seconds a failed fetch is remembered before the same URL is tried again. */
    retry_after: int({ min: 0, max: 86400, default: 300 }),
    /** Files of DER OCSP responses to staple, by local identity. */
    ocsp_files: dict(path(), { key: LOCAL_ID, keyExpected: 'local identity' }),
  }),
  /** The global directory of a user's domain as a trust path (ldap-keys.ts). */
  ldap: ldapSchema,
  pin: object({
    /** Seconds a STARTTLS that needs a PIN waits for a PIN entry program to register when none is. */
    wait_for_program: int({ min: 0, max: 86400, default: 60 }),
    /** Seconds a PIN entry program may take to answer a prompt (its timeout_us). */
    entry_timeout: int({ ...settingRange('pinEntryTimeout'), default: 60 }),
    /** Seconds a token stays unlocked (its PIN cached) after its last use. */
    cache_idle_ttl: int({ ...settingRange('pinCacheIdleTtl'), default: 600 }),
    /** Seconds a token stays unlocked at most, used or not. */
    cache_max_ttl: int({ ...settingRange('pinCacheMaxTtl'), default: 7200 }),
    /** PINs by token label, written here. Allowed but discouraged: the file then holds the key's protection. */
    tokens: list(object({ label: str(), pin: str() }), { default: [] }),
  }),
  disclosure: object({
    /** Seconds the approval agent has to answer "show this identity to that peer?"; unanswered is a deny. */
    approval_timeout: int({ ...settingRange('approvalTimeout'), default: 60 }),
    /** With no matching rule and no approval agent registered: show the identity (allow) or not (deny). */
    default: oneOf(DISCLOSURE_CHOICES, { default: 'allow' }),
  }),
  pkcs11: object({
    /** PKCS #11 module files GnuTLS loads; empty: p11-kit's configuration (its registered modules). */
    modules: list(path(), { default: [] }),
  }),
  /** What the clients of the pool socket may make the daemon hold; past a limit, work is refused (docs/errors.md). */
  limits: object({
    /** STARTTLS requests pending (not yet answered), all clients together; more get ERROR EAGAIN. */
    handshakes: int({ min: 1, max: 1_000_000, default: 1024 }),
    /** STARTTLS requests pending from the processes of one uid, over all their connections. */
    handshakes_per_uid: int({ min: 1, max: 1_000_000, default: 512 }),
    /** Open pool connections, all clients together; one more has its first request answered with EUSERS and is closed. */
    connections: int({ min: 1, max: 1_000_000, default: 1024 }),
    /** Open pool connections of one uid. */
    connections_per_uid: int({ min: 1, max: 1_000_000, default: 256 }),
    /** V2 sessions detached at one time (CONTROL_DETACH, DETACH, FORK after its control connection closed). */
    detached_sessions: int({ min: 0, max: 100_000, default: 256 }),
    /** Seconds a V2 session may stay detached before it is ended. */
    detached_lifetime: int({ min: 1, max: 604_800, default: 3600 }),
  }),
  /** External authentication and authorization of remote peers (radius-keys.ts). */
  radius: radiusSchema,
});

export interface Config extends Infer<typeof configSchema> {
  /** The file the values came from, if any; SIGHUP reads it again. */
  config_file?: string;
}
