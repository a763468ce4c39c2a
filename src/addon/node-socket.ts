/**
 * Taking the descriptor out of a Node socket, to hand it to the pool: a
 * duplicate that the caller owns, while Node's socket is destroyed (so Node
 * reads nothing more from it and closes its own copy). Node keeps the
 * descriptor in internals: `_handle` for net sockets, the handle in the
 * state symbol for dgram ones (whose `_handle` getter is deprecated).
 */
import type * as dgram from 'node:dgram';
import * as net from 'node:net';
import { adoptFd, type OwnedFd } from './ipc';

type Handle = { fd?: number } | undefined;

function handleOf(sock: net.Socket | dgram.Socket): Handle {
  if (sock instanceof net.Socket) return (sock as unknown as { _handle?: Handle })._handle;
  const state = Object.getOwnPropertySymbols(sock).find((s) => s.description === 'state symbol');
  return state ? (sock as unknown as Record<symbol, { handle?: Handle }>)[state]?.handle : undefined;
}

/** The socket's descriptor as an OwnedFd of our own; the Node socket is destroyed. Throws EBADF when it has none. */
export function takeFd(sock: net.Socket | dgram.Socket): OwnedFd {
  const raw = handleOf(sock)?.fd;
  const done = () => (sock instanceof net.Socket ? sock.destroy() : sock.close());
  if (typeof raw !== 'number' || raw < 0) {
    done();
    throw Object.assign(new Error('the socket has no descriptor'), { code: 'EBADF' });
  }
  const original = adoptFd(raw);
  const copy = original.dup();
  original.release(); // Node owns the original and closes it now
  done();
  return copy;
}
