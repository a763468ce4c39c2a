/**
 * Where the pool socket may live, and what to do with what is already there.
 * The directory, and every directory above it, must be writable by its
 * owner only (see util/safe-path) — otherwise anyone could swap the socket
 * for their own — and a live daemon is never displaced.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type AcceptError, connectUnix, listenFd, listenUnix, type UnixConnection, type UnixListener } from '../../addon/ipc';
import type { Logger } from '../../log/logger';
import { RateLimitedLog } from '../../log/rate-limit';
import { ensurePrivateDir, ourUid, UnsafePathError } from '../../util/safe-path';
import { errnoOf, Failure, messageOf } from '../../model/failure';

/** Make `socketPath` ready for bind(): a safe directory, no stale socket. */
export function prepareSocketPath(socketPath: string, log: Logger): void {
  const dir = path.dirname(socketPath);
  try {
    ensurePrivateDir(dir);
  } catch (e) {
    if (!(e instanceof UnsafePathError)) throw e;
    throw new Failure(
      'EACCES',
      `refusing to put the socket in ${dir}: ${e.message}; ${e.fix}, ` +
        'or choose a private directory such as $XDG_RUNTIME_DIR (--socket, --control-socket)',
    );
  }

  let existing: fs.Stats;
  try {
    existing = fs.lstatSync(socketPath);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  if (!existing.isSocket()) {
    throw new Failure('EEXIST', `${socketPath} exists and is not a socket; remove it or choose another --socket`);
  }
  let pid: number | undefined;
  try {
    const probe = connectUnix(socketPath);
    pid = probe.peer.pid;
    probe.close();
  } catch (e) {
    if ((e as { code?: string }).code !== 'ECONNREFUSED') throw e;
  }
  if (pid !== undefined) throw new Failure('EADDRINUSE', `another tlspool daemon (pid ${pid}) is already serving ${socketPath}; stop it first`);
  fs.unlinkSync(socketPath);
  log.info('replaced a stale socket', { socket: socketPath });
}

/** A socket this process listens on at a path it owns (or was handed, see adoptListening). */
export interface BoundSocket {
  /** Where it listens. */
  readonly path: string;
  /** Stop accepting; connections already made live on. */
  stopListening(): void;
  /** Remove the path, but only if it is still our socket (not a successor's); nothing for a socket we were handed. */
  unlink(): void;
}

/** Why accept() failed, for the log. */
const ACCEPT_FAILURES: Record<string, string> = {
  EMFILE: 'the daemon is out of file descriptors (RLIMIT_NOFILE); clients wait until some are closed',
  ENFILE: 'the system is out of file descriptors (fs.file-max); clients wait until some are closed',
  ENOBUFS: 'the system is out of socket memory',
  ENOMEM: 'the system is out of memory',
};

/**
 * Prepare the path (see prepareSocketPath) and listen there with mode 0600
 * from bind() on: a tight umask means the inode is never, even for an
 * instant, open to more than its owner. accept() failing for want of
 * descriptors or memory is logged, at most once per 10 s per errno.
 */
function acceptFailureLog(log: Logger, socket: () => string) {
  const failures = new RateLimitedLog(log);
  const onAcceptError = (e: AcceptError) =>
    failures.warn(e.code, 'cannot accept connections', {
      socket: socket(),
      errno: e.code,
      reason: ACCEPT_FAILURES[e.code] ?? e.message,
      retry_ms: e.retryMs,
    });
  return { failures, onAcceptError };
}

export function bindOwnerOnly(socketPath: string, backlog: number, log: Logger, onConnection: (conn: UnixConnection) => void): BoundSocket {
  prepareSocketPath(socketPath, log);
  const { failures, onAcceptError } = acceptFailureLog(log, () => socketPath);
  const oldUmask = process.umask(0o177);
  let listener: UnixListener | undefined;
  try {
    listener = listenUnix(socketPath, backlog, onConnection, onAcceptError);
  } finally {
    process.umask(oldUmask);
  }
  const ino = fs.statSync(socketPath).ino;
  return {
    path: socketPath,
    stopListening() {
      listener?.close();
      listener = undefined;
      failures.flush();
    },
    unlink() {
      try {
        if (fs.statSync(socketPath).ino === ino) fs.unlinkSync(socketPath);
      } catch {
        // Already gone.
      }
    },
  };
}

/** What a socket handed to us is for, and so who may reach it. */
export interface HandedSocket {
  /** Its FileDescriptorName=, for messages (`tlspool`, `control`). */
  readonly name: string;
  /**
   * The gid that may connect besides us (socket_group); undefined: only us.
   * A socket writable by its group is refused unless that group is this one.
   */
  readonly group?: number;
  /** What to set when the socket is refused, for the message. */
  readonly fix: string;
}

/**
 * Accept on a listening socket systemd passed (socket activation), after
 * holding it to what bindOwnerOnly makes: a UNIX stream socket at a path in
 * a safe directory, the file ours or root's, writable by nobody else — or,
 * with `group`, by that group too. A socket that fails is not listened on
 * and the daemon refuses to start, with a line that says which socket and
 * what to change. The file is never removed: it is systemd's.
 */
export function adoptListening(fd: number, handed: HandedSocket, log: Logger, onConnection: (conn: UnixConnection) => void): BoundSocket {
  let socketPath = `fd ${fd}`;
  const { failures, onAcceptError } = acceptFailureLog(log, () => socketPath);
  let listener: UnixListener | undefined;
  try {
    listener = listenFd(fd, onConnection, onAcceptError);
  } catch (e) {
    throw new Failure(errnoOf(e, 'EINVAL'), `the socket systemd passed as "${handed.name}" (fd ${fd}) cannot be listened on: ${messageOf(e)}`);
  }
  socketPath = listener.path;
  try {
    checkHandedSocket(socketPath, handed);
  } catch (e) {
    listener.close();
    throw e;
  }
  return {
    path: socketPath,
    stopListening() {
      listener?.close();
      listener = undefined;
      failures.flush();
    },
    unlink() {
      // systemd made the file and keeps it, for the next start.
    },
  };
}

function checkHandedSocket(socketPath: string, handed: HandedSocket): void {
  const what = `the socket systemd passed as "${handed.name}" (${socketPath})`;
  const dir = path.dirname(socketPath);
  try {
    ensurePrivateDir(dir);
  } catch (e) {
    if (!(e instanceof UnsafePathError)) throw e;
    throw new Failure('EACCES', `refusing ${what}: ${e.message}; ${e.fix}, or listen in a private directory such as %t (ListenStream=)`);
  }
  let st: fs.Stats;
  try {
    st = fs.lstatSync(socketPath);
  } catch (e) {
    throw new Failure(errnoOf(e, 'EIO'), `refusing ${what}: its file cannot be checked (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (!st.isSocket()) throw new Failure('EACCES', `refusing ${what}: the file there is not a socket`);
  const uid = ourUid();
  if (st.uid !== uid && st.uid !== 0) {
    throw new Failure('EACCES', `refusing ${what}: it belongs to uid ${st.uid}, not to us (uid ${uid}) or root; set SocketUser= or run the service as that user`);
  }
  const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
  if (st.mode & 0o002) {
    throw new Failure('EACCES', `refusing ${what}: it is writable by everyone (mode ${mode}), so any local user could use the pool as us; ${handed.fix}`);
  }
  if (st.mode & 0o020) {
    if (handed.group === undefined) {
      throw new Failure('EACCES', `refusing ${what}: it is writable by group ${st.gid} (mode ${mode}), which nothing allows; ${handed.fix}`);
    }
    if (st.gid !== handed.group) {
      throw new Failure('EACCES', `refusing ${what}: it is writable by group ${st.gid} (mode ${mode}), not socket_group (gid ${handed.group}); set SocketGroup= to socket_group`);
    }
  }
}

/** The executable of a connected peer, for logs and prompts; undefined for another user's process or one already gone. */
export function peerExecutable(pid: number): string | undefined {
  try {
    return fs.readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return undefined;
  }
}

/** A group given by name (looked up in /etc/group) or number. */
export function resolveGroup(group: string | number): number {
  if (typeof group === 'number') return group;
  if (/^\d+$/.test(group)) return Number(group);
  for (const line of fs.readFileSync('/etc/group', 'utf8').split('\n')) {
    const [name, , gid] = line.split(':');
    if (name === group && gid !== undefined) return Number(gid);
  }
  throw new Failure('ENOENT', `socket_group: no group named "${group}" in /etc/group`);
}
