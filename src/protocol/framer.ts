/**
 * Framing of a byte stream into 376-byte commands. The kernel hands us bytes
 * in arbitrary pieces; an fd arrives with the recvmsg that carried the first
 * bytes of the sendmsg it was attached to. The wire contract's rule: an fd
 * belongs to the command whose first byte arrived with it. That is only
 * unambiguous when a chunk holds at most one command start, which is why
 * connections are read with `start(..., COMMAND_SIZE)`; the kernel glues
 * plain bytes queued before an fd into the same read.
 */
import { COMMAND_SIZE } from './layout';

/** What the framer needs of a received descriptor: that it can be closed (the addon's OwnedFd is one). */
export interface Closable {
  close(): void;
}

export interface Frame<F extends Closable = Closable> {
  readonly bytes: Uint8Array;
  /** The fd that came with this command's first byte; the receiver owns it. */
  readonly fd?: F;
  /**
   * An fd was sent with this command's first byte and the kernel could not
   * hand it over (MSG_CTRUNC, the process is out of descriptors): `fd` is
   * absent although the sender sent one.
   */
  readonly fdLost?: boolean;
}

export class Framer<F extends Closable = Closable> {
  private readonly size: number;
  private partial: Uint8Array;

  /** `size`: the command size, 376 (V1, the default) or 388 (V2). */
  constructor(size: number = COMMAND_SIZE) {
    this.size = size;
    this.partial = new Uint8Array(size);
  }

  private filled = 0;
  private partialFd: F | undefined;
  private partialFdLost = false;

  /**
   * Feed one received chunk with its fds; returns the complete commands. fds
   * that belong to no command start (a chunk that only continues a command),
   * and any beyond the first, are closed here: nobody could claim them.
   * `fdsLost` (MSG_CTRUNC) marks the command starting in this chunk as one
   * whose fd was lost, unless an fd did arrive for it.
   */
  push(chunk: Uint8Array, fds: F[] = [], fdsLost = false): Frame<F>[] {
    const frames: Frame<F>[] = [];
    let offset = 0;
    let pendingFd: F | undefined = fds[0];
    let pendingLost = fdsLost && fds.length === 0;
    for (const extra of fds.slice(1)) extra.close();

    // First finish the command that earlier chunks started.
    if (this.filled > 0) {
      const n = Math.min(this.size - this.filled, chunk.byteLength);
      this.partial.set(chunk.subarray(0, n), this.filled);
      this.filled += n;
      offset = n;
      if (this.filled === this.size) {
        frames.push(this.partialFdLost ? { bytes: this.partial, fdLost: true } : { bytes: this.partial, fd: this.partialFd });
        this.partial = new Uint8Array(this.size);
        this.filled = 0;
        this.partialFd = undefined;
        this.partialFdLost = false;
      }
    }

    // Whole commands in this chunk; the fd goes to the first that starts here.
    while (chunk.byteLength - offset >= this.size) {
      const bytes = chunk.slice(offset, offset + this.size);
      frames.push(pendingLost ? { bytes, fdLost: true } : { bytes, fd: pendingFd });
      pendingFd = undefined;
      pendingLost = false;
      offset += this.size;
    }

    // The start of a command that continues in a later chunk.
    if (offset < chunk.byteLength) {
      this.partial.set(chunk.subarray(offset), 0);
      this.filled = chunk.byteLength - offset;
      this.partialFd = pendingFd;
      this.partialFdLost = pendingLost;
      pendingFd = undefined;
    }

    pendingFd?.close();
    return frames;
  }

  /** Bytes of an unfinished command; the server drops them on disconnect. */
  get pendingBytes(): number {
    return this.filled;
  }

  /** Close the fd of an unfinished command, if any (on disconnect). */
  dispose(): void {
    this.partialFd?.close();
    this.partialFd = undefined;
    this.partialFdLost = false;
    this.filled = 0;
  }
}
