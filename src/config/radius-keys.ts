/**
 * The `radius:` section: external authentication and authorization of
 * remote peers by RADIUS servers (RFC 2865), asked after TLS validation
 * accepted a peer (docs/configuration.md, daemon/radius/external-checks.ts).
 * A step whose server is absent is not asked.
 */
import { bool, int, object, oneOf, optional, path, str } from './schema';

/** HOST or HOST:PORT; an IPv6 address in brackets ([::1]:1812). */
export const RADIUS_SERVER = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}))(?::\d{1,5})?$/;
/** The port RFC 2865 assigns to authentication. */
export const RADIUS_PORT = 1812;

const server = () =>
  optional(
    object({
      /** Where Access-Requests go: HOST or HOST:PORT (port 1812 when left out). */
      server: str({ pattern: RADIUS_SERVER, expected: 'HOST or HOST:PORT (127.0.0.1:1812, [::1]:1812, radius.example.com)' }),
      /** The file holding the shared secret (its first line); read at each request, never logged. */
      secret_file: path(),
    }),
  );

export const radiusSchema = object({
  /** Is the remote identity known and enabled? Absent: not asked. */
  authn: server(),
  /** May the remote identity talk to this local identity? Absent: not asked. */
  authz: server(),
  /** Seconds one question may take, over all its transmissions. */
  timeout: int({ min: 1, max: 60, default: 3 }),
  /** How many times an unanswered Access-Request is sent again within the timeout. */
  retransmits: int({ min: 0, max: 10, default: 2 }),
  /** No answer in time: refuse the peer, or allow it with a warning in the log and the connection record. */
  on_timeout: oneOf(['refuse', 'allow'], { default: 'refuse' }),
  /** May applications set SKIP_EXT_AUTHN (no external authentication for this connection)? */
  allow_skip_authn: bool({ default: true }),
  /** May applications set BYPASS_EXT_AUTHZ (no external authorization for this connection)? */
  allow_bypass_authz: bool({ default: false }),
  /** The NAS-Identifier the requests carry: how the servers tell this pool from their other clients. */
  nas_identifier: str({ pattern: /^[\x21-\x7e][\x20-\x7e]{0,63}$/, expected: 'printable ASCII text of 1 to 64 characters', default: 'tlspool' }),
});
