/** The system as the C library sees it: NSS groups and the sd_notify datagram (the addon's sys_*.cc). */
import { addon } from './load';

const native = addon as unknown as { lookupGroup(name: string): number | null; notifySocket(path: string, message: string): void };

/**
 * The gid of the group called `name`, or undefined when there is none.
 * Asks NSS (getgrnam_r), so groups from sssd, LDAP or systemd-userdb count
 * as they do for `getent group` and chown; throws if the lookup fails.
 */
export function lookupGroup(name: string): number | undefined {
  return native.lookupGroup(name) ?? undefined;
}

/**
 * Send `message` as one datagram to the UNIX datagram socket at `path` (an
 * absolute path, or `@name` in the abstract namespace), as sd_notify(3) does
 * to $NOTIFY_SOCKET. Never blocks: a receiver whose queue is full makes it
 * throw EAGAIN. Throws with `code` the errno name.
 */
export function notifySocket(path: string, message: string): void {
  native.notifySocket(path, message);
}
