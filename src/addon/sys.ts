/** The system's databases as the C library sees them (NSS): the addon's sys_*.cc. */
import { addon } from './load';

const native = addon as unknown as { lookupGroup(name: string): number | null };

/**
 * The gid of the group called `name`, or undefined when there is none.
 * Asks NSS (getgrnam_r), so groups from sssd, LDAP or systemd-userdb count
 * as they do for `getent group` and chown; throws if the lookup fails.
 */
export function lookupGroup(name: string): number | undefined {
  return native.lookupGroup(name) ?? undefined;
}
