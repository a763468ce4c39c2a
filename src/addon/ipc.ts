/**
 * The IPC half of the native addon: UNIX stream sockets with fd passing and
 * peer credentials, driven from the event loop (libuv poll handles), plus the
 * fd inspection STARTTLS needs. No policy here: framing, protocol and every
 * decision live in TypeScript above this.
 */
import { addon } from './load';

/** `SO_PEERCRED` of the process at the other end, read at connect/accept. */
export interface PeerCred {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
}

/**
 * A file descriptor that is owned by exactly one object and closed exactly
 * once: by close(), by handing it on with release(), or (as a safety net, if
 * JavaScript drops it) by the garbage collector's finalizer.
 */
export interface OwnedFd {
  /** The descriptor number, or -1 once closed or released. */
  readonly fd: number;
  readonly closed: boolean;
  /** Close now; a second call does nothing. */
  close(): void;
  /** Hand ownership to the caller: returns the number and forgets it. */
  release(): number;
  /** A new owned duplicate (`F_DUPFD_CLOEXEC`). */
  dup(): OwnedFd;
}

/** An error from the native side: `code` is the errno name ("ECONNRESET"). */
export interface NativeError extends Error {
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;
}

export interface UnixConnection {
  readonly peer: PeerCred;
  /**
   * Bytes accepted by send() and not yet written to the socket. On an
   * accepted connection, reading stops while this is over 64 KiB and starts
   * again below 16 KiB: a peer that does not read its answers is not read
   * from. A connection made with connectUnix() always reads.
   */
  readonly queuedBytes: number;
  /**
   * Bytes the kernel has received on this socket and not yet handed to
   * onData (FIONREAD), asked without waiting: inside onData, what the peer
   * wrote together with the chunk just delivered. 0 once closed.
   */
  readonly inputBytes: number;
  /**
   * Start reading. `onData` is called for every recvmsg with the bytes and
   * the fds that came with them (usually none, at most a few; the callee owns
   * them). `fdsLost` is true when descriptors came with these bytes and the
   * kernel could not hand (all of) them over (MSG_CTRUNC: this process is
   * out of descriptors). `onEnd` is called exactly once when the peer closes
   * (no error) or the socket fails; never after close().
   *
   * With `recordSize`, no read crosses a multiple of it in the stream, so a
   * chunk holds the first byte of at most one record. That is what makes fds
   * attributable: the kernel returns an fd with the read that holds the first
   * byte of the sendmsg it came with, glued to whatever plain bytes were
   * queued before it (unix(7)), so a larger read may hold the start of an
   * earlier record too.
   */
  start(
    onData: (chunk: Buffer, fds: OwnedFd[], fdsLost: boolean) => void,
    onEnd: (error?: NativeError) => void,
    recordSize?: number,
  ): void;
  /**
   * Queue bytes for sending, in order. If `fd` is given it travels as
   * SCM_RIGHTS with the first byte of `data`; the addon duplicates it, so the
   * caller keeps (and later closes) its own. Returns false if the connection
   * is already closed (the data is dropped).
   */
  send(data: Uint8Array, fd?: OwnedFd): boolean;
  /**
   * Stop reading until resumeReading() (inside onData: no further onData
   * from the current event). Independent of the addon's own pause while more
   * than 4 MiB of output are queued; reading happens when neither holds it.
   */
  pauseReading(): void;
  resumeReading(): void;
  /**
   * Call `f` once, from the event loop, when the output queue is empty (on
   * the next turn if it is already); never from inside a call here, and
   * never after the end or close(). A second call replaces the first `f`.
   * Throws before start().
   */
  whenDrained(f: () => void): void;
  /** Close the socket and drop queued output; idempotent; no callbacks after. */
  close(): void;
}

export interface UnixListener {
  readonly path: string;
  /** Stop accepting and close the listening socket. Does not unlink the path. */
  close(): void;
}

export type SocketType = 'stream' | 'dgram' | 'seqpacket' | 'raw' | 'other';

/** What fdInfo() tells about a descriptor: enough to check a STARTTLS fd. */
export interface FdInfo {
  readonly isSocket: boolean;
  /** Only for sockets. */
  readonly type?: SocketType;
  /** Only for sockets: AF_INET 2, AF_INET6 10, AF_UNIX 1, … */
  readonly family?: number;
  /** Only for sockets: SO_PROTOCOL (6 TCP, 17 UDP, 132 SCTP, 0 for AF_UNIX). */
  readonly protocol?: number;
  /** Only for sockets: getpeername() succeeded. */
  readonly connected?: boolean;
  /** Only for connected IP sockets: the peer as "192.0.2.1:443" or "[2001:db8::1]:443". */
  readonly peerAddress?: string;

}

interface IpcAddon {
  listenUnix(
    path: string,
    backlog: number,
    onConnection: (conn: UnixConnection) => void,
    onAcceptError?: (error: AcceptError) => void,
  ): UnixListener;
  connectUnix(path: string): UnixConnection;
  listenFd(fd: number, onConnection: (conn: UnixConnection) => void, onAcceptError?: (error: AcceptError) => void): UnixListener;
  adoptFd(fd: number): OwnedFd;
  fdInfo(fd: number): FdInfo;
  peerHungUp(fd: number): boolean;
  socketpair(type: 'stream' | 'dgram' | 'seqpacket'): [OwnedFd, OwnedFd];
}

const native = addon as unknown as IpcAddon;

/** accept() failed for want of resources (EMFILE, ENFILE, ENOBUFS, ENOMEM): the listener tries again after `retryMs`. */
export interface AcceptError extends NativeError {
  readonly retryMs: number;
}

/**
 * Create, bind and listen on a UNIX stream socket at `path` (the path must
 * not exist). Each accepted connection is non-blocking and close-on-exec,
 * with its peer credentials read. When accept() fails for want of resources
 * the listener pauses (the clients wait in the backlog) and tells
 * `onAcceptError` each time.
 */
export function listenUnix(
  path: string,
  backlog: number,
  onConnection: (conn: UnixConnection) => void,
  onAcceptError?: (error: AcceptError) => void,
): UnixListener {
  return native.listenUnix(path, backlog, onConnection, onAcceptError);
}

/**
 * Accept on a listening socket this process was given, as systemd's socket
 * activation passes them: it must be a UNIX stream socket that listens and is
 * bound to a filesystem path (the listener's `path`). It is made non-blocking
 * and close-on-exec. Throws a NativeError (ENOTSOCK, EAFNOSUPPORT, EPROTOTYPE,
 * EINVAL: not listening, or no path) and leaves the descriptor open when it is
 * not such a socket; from then on close() closes it.
 */
export function listenFd(fd: number, onConnection: (conn: UnixConnection) => void, onAcceptError?: (error: AcceptError) => void): UnixListener {
  return native.listenFd(fd, onConnection, onAcceptError);
}

/** Connect to a UNIX stream socket; throws a NativeError (ENOENT, ECONNREFUSED, …). */
export function connectUnix(path: string): UnixConnection {
  return native.connectUnix(path);
}

/** Take ownership of a descriptor number (from fs.openSync and the like). */
export function adoptFd(fd: number): OwnedFd {
  return native.adoptFd(fd);
}

/** Inspect a descriptor without changing it. Throws EBADF for a closed one. */
export function fdInfo(fd: number): FdInfo {
  return native.fdInfo(fd);
}

/**
 * Whether the other end of a stream socket has hung up (POLLRDHUP, POLLHUP
 * or POLLERR, polled without waiting; nothing queued is read). Throws EBADF
 * for a closed descriptor.
 */
export function peerHungUp(fd: number): boolean {
  return native.peerHungUp(fd);
}

/** A connected pair of AF_UNIX sockets, both close-on-exec. */
export function socketpair(type: 'stream' | 'dgram' | 'seqpacket'): [OwnedFd, OwnedFd] {
  return native.socketpair(type);
}
