/**
 * Descriptor numbers for tests of the TLS engine: dup, close and poll on
 * plain numbers, straight from the addon (production code uses OwnedFd).
 */
import { addon } from '../src/addon/load';

const native = addon as unknown as {
  tlsDupFd(fd: number): number;
  tlsCloseFd(fd: number): void;
  tlsPollFd(fd: number, dir: 'in' | 'out', timeoutMs: number): boolean;
};

/** dup() with close-on-exec; the caller owns the result. */
export function tlsDupFd(fd: number): number {
  return native.tlsDupFd(fd);
}

/** close() a descriptor number. */
export function tlsCloseFd(fd: number): void {
  native.tlsCloseFd(fd);
}

/** Block the calling thread up to timeoutMs until fd is readable ('in') or writable ('out'); false on timeout. */
export function tlsPollFd(fd: number, dir: 'in' | 'out', timeoutMs: number): boolean {
  return native.tlsPollFd(fd, dir, timeoutMs);
}
