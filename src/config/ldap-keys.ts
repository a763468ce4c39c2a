/**
 * The `ldap:` section: the global directory of a user's domain as a trust
 * path (docs/configuration.md, README "Validation"). Off by default: looking
 * a peer up tells its domain's directory whom the pool is talking to, and
 * adds a round trip to every handshake it is used for.
 */
import { bool, dict, int, object, optional, path, str } from './schema';

/** A directory URL: ldap:// or ldaps://, a host (name, IPv4, [IPv6]), an optional port, an optional base DN. */
const LDAP_URL = /^ldaps?:\/\/(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::\d{1,5})?(?:\/[^?#\s]*)?$/;
/** A domain the pool may meet in user@domain. */
const DOMAIN = /^(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.)*[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;
/** The filter template must name the user, and be one parenthesized filter. */
const FILTER = /^\(.*\{user\}.*\)$/;

export const DEFAULT_FILTER = '(&(uid={user})(|(objectClass=pkiUser)(objectClass=inetOrgPerson)))';

export const ldapSchema = object({
  /** Accept a user@domain peer whose certificate its domain's directory publishes, when PKIX and DANE do not. */
  directory: bool({ default: false }),
  /** Per-domain directories, used instead of the DNS SRV record _ldap._tcp.DOMAIN. */
  directories: dict(str({ pattern: LDAP_URL, expected: 'ldap://host[:port][/base] or ldaps://host[:port][/base]' }), {
    key: DOMAIN,
    keyExpected: 'domain',
  }),
  /** Seconds one directory lookup may take altogether (connect, StartTLS, search). */
  timeout: int({ min: 1, max: 60, default: 3 }),
  /** The search filter; {user} is replaced by the local part of user@domain (escaped, RFC 4515). */
  filter: str({ pattern: FILTER, expected: 'a filter in parentheses with {user} in it', default: DEFAULT_FILTER }),
  /** Seconds the certificates found (or not found) for a user are reused; 0: never. */
  cache_ttl: int({ min: 0, max: 86400, default: 300 }),
  /** PEM CA certificates a directory's TLS certificate is validated against instead of the pool's trust anchors. */
  ca_file: optional(path()),
});
