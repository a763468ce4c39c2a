/**
 * The keys of tlspool.yaml. A new section is one more entry here (and in
 * docs/configuration.md); the Config type follows from it.
 */
import { defaultPath } from './paths';
import { type Infer, int, object, oneOf, optional, path, str, union } from './schema';

/** POSIX portable group names (useradd's rule), so a typo is caught here rather than at bind time. */
const GROUP_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$/;

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
  state_dir: path({ default: (ctx) => defaultPath.state_dir(ctx.env, ctx.uid) }),
  log: object({
    level: oneOf(['debug', 'info', 'warn', 'error'], { default: 'info' }),
  }),
});

export interface Config extends Infer<typeof configSchema> {
  /** The file the values came from, if any; SIGHUP reads it again. */
  config_file?: string;
}
