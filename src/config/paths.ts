/** Where things live when nobody says otherwise, and how a written path becomes absolute. */
import * as path from 'node:path';
import { ConfigError } from './error';

export interface DefaultPaths {
  socket: string;
  state_dir: string;
  config_file: string;
}

/** Each default on its own, so a missing HOME only matters when that default is used. */
export const defaultPath: { [K in keyof DefaultPaths]: (env: NodeJS.ProcessEnv, uid: number) => string } = {
  socket(env, uid) {
    if (uid === 0) return '/var/run/tlspool.sock';
    const runtime = xdgDir(env, 'XDG_RUNTIME_DIR');
    // Without a runtime directory the daemon makes this one itself, mode 0700.
    return runtime ? path.join(runtime, 'tlspool.sock') : `/tmp/tlspool-${uid}/tlspool.sock`;
  },
  state_dir(env, uid) {
    if (uid === 0) return '/var/lib/tlspool';
    const base = xdgDir(env, 'XDG_STATE_HOME') ?? homeDir(env, '.local/state', 'the state directory: neither XDG_STATE_HOME nor HOME is set (or use --state-dir)');
    return path.join(base, 'tlspool');
  },
  config_file(env, uid) {
    if (uid === 0) return '/etc/tlspool/tlspool.yaml';
    const base = xdgDir(env, 'XDG_CONFIG_HOME') ?? homeDir(env, '.config', 'the configuration file: neither XDG_CONFIG_HOME nor HOME is set (or use --config)');
    return path.join(base, 'tlspool', 'tlspool.yaml');
  },
};

export function defaultPaths(env: NodeJS.ProcessEnv, uid: number = currentUid()): DefaultPaths {
  return {
    socket: defaultPath.socket(env, uid),
    state_dir: defaultPath.state_dir(env, uid),
    config_file: defaultPath.config_file(env, uid),
  };
}

export function currentUid(): number {
  // process.getuid is absent on Windows, where the pool (UNIX sockets, peer credentials) cannot run anyway.
  if (!process.getuid) throw new ConfigError('cannot tell the user id on this platform; pass uid explicitly');
  return process.getuid();
}

/** The XDG base directory spec says relative values are invalid and must be ignored. */
function xdgDir(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name];
  return value && path.isAbsolute(value) ? value : undefined;
}

function homeDir(env: NodeJS.ProcessEnv, under: string, unplaceable: string): string {
  const home = env.HOME;
  if (home && path.isAbsolute(home)) return path.join(home, under);
  throw new ConfigError(`cannot place ${unplaceable}`);
}

/**
 * Make a path written by a person absolute: a leading `~/` means HOME, and a
 * relative path is taken from `base` (the config file's directory, or the
 * working directory for flags and environment). Returns the problem as a
 * string so the caller can say where it was written.
 */
export function resolvePath(written: string, base: string, env: NodeJS.ProcessEnv): string | { problem: string } {
  if (written === '') return { problem: 'must not be empty' };
  if (written.includes('\0')) return { problem: 'must not contain a NUL character' };
  if (written === '~' || written.startsWith('~/')) {
    const home = env.HOME;
    if (!home || !path.isAbsolute(home)) return { problem: `cannot expand ~ in "${written}": HOME is not set` };
    return path.join(home, written.slice(1));
  }
  // `~user/` would need a passwd lookup; asking for the full path is clearer than guessing.
  if (written.startsWith('~')) return { problem: `only ~/ is expanded; write the full path instead of "${written}"` };
  return path.resolve(base, written);
}

/** Why reading a file failed, in words: `no such file`, `permission denied`, … */
export function whyUnreadable(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'ENOENT' ? 'no such file'
    : code === 'EACCES' ? 'permission denied'
    : code === 'EISDIR' ? 'it is a directory'
    : code === 'ENOTDIR' ? 'a part of the path is not a directory'
    : (e as Error).message;
}
