/**
 * Which protocol a pool connection speaks, decided once by its first
 * packet (docs/protocol.md, "One socket, two protocols"). Neither protocol
 * has a version field, but a V1 packet is 376 bytes and a V2 packet 388,
 * and clients write each packet in one call; so what arrives together with
 * the 376th byte tells them apart:
 *
 * 1. at least 12 more bytes are there (read, or queued behind it): the u32
 *    at packet offset 380 is a V1 client tag → V1 (a pipelining V1 client);
 *    anything else → V2 (those bytes are the zeroed tail of a V2 payload);
 * 2. fewer, and the first tag is one only V2 has → V2 written in two
 *    pieces: wait briefly for the rest; none comes → an early (376-byte)
 *    V2 client;
 * 3. otherwise V1.
 *
 * Pure: the caller says how many bytes are queued behind a chunk and runs
 * the brief wait's timer. Chunks are kept with their fds until the decision,
 * then handed back to be framed in order, so fds stay with their packets.
 */
import { Cmd, LocalCmd } from './constants';
import type { Closable } from './framer';
import { COMMAND_SIZE } from './layout';
import { V2_ONLY_TAGS } from './v2-constants';
import { V2_COMMAND_SIZE } from './v2-layout';

export type Dialect = 'v1' | 'v2' | 'v2-early';

/** Tags a V1 client sends (this project's LOCAL ones included). */
const V1_CLIENT_TAGS: ReadonlySet<number> = new Set<number>([
  Cmd.ERROR,
  Cmd.PING,
  Cmd.STARTTLS_CLIENT,
  Cmd.STARTTLS_SERVER,
  Cmd.STARTTLS_LOCALID,
  Cmd.PINENTRY,
  ...Object.values(LocalCmd),
]);

/** How long a V2-only first packet may wait for its last 12 bytes. */
export const V2_TAIL_WAIT_MS = 200;

const EXTRA = V2_COMMAND_SIZE - COMMAND_SIZE;

export interface Held<F extends Closable> {
  readonly bytes: Uint8Array;
  readonly fds: F[];
  readonly fdsLost: boolean;
}

export type Detection<F extends Closable> =
  | { readonly state: 'undecided' }
  /** Arm a timer of V2_TAIL_WAIT_MS and call timeout() when it fires. */
  | { readonly state: 'wait-tail' }
  | { readonly state: 'decided'; readonly dialect: Dialect; readonly chunks: Held<F>[] };

export class ProtocolDetector<F extends Closable = Closable> {
  private chunks: Held<F>[] = [];
  private total = 0;
  private phase: 'first' | 'need-extra' | 'wait-tail' | 'done' = 'first';

  /**
   * One received chunk; `queuedBehind` tells (without waiting) how many
   * more bytes the socket holds right now (FIONREAD).
   */
  push(bytes: Uint8Array, fds: F[], fdsLost: boolean, queuedBehind: () => number): Detection<F> {
    if (this.phase === 'done') throw new Error('the protocol is already decided');
    this.chunks.push({ bytes, fds, fdsLost });
    this.total += bytes.byteLength;
    if (this.phase === 'first') {
      if (this.total < COMMAND_SIZE) return { state: 'undecided' };
      const extra = this.total - COMMAND_SIZE;
      if (extra + (extra >= EXTRA ? 0 : queuedBehind()) >= EXTRA) {
        this.phase = 'need-extra';
      } else if (V2_ONLY_TAGS.has(this.u32(4))) {
        this.phase = 'wait-tail';
        return { state: 'wait-tail' };
      } else {
        return this.decide('v1');
      }
    }
    if (this.total < V2_COMMAND_SIZE) return { state: this.phase === 'wait-tail' ? 'wait-tail' : 'undecided' };
    if (this.phase === 'wait-tail') return this.decide('v2');
    return this.decide(V1_CLIENT_TAGS.has(this.u32(COMMAND_SIZE + 4)) ? 'v1' : 'v2');
  }

  /** The brief wait is over: V2 if anything more came, else an early V2 client. */
  timeout(): Detection<F> {
    if (this.phase !== 'wait-tail') return { state: 'undecided' };
    return this.decide(this.total > COMMAND_SIZE ? 'v2' : 'v2-early');
  }

  /** Close the fds of chunks still held (the client left before the decision). */
  dispose(): void {
    for (const c of this.chunks) for (const fd of c.fds) fd.close();
    this.chunks = [];
    this.phase = 'done';
  }

  private decide(dialect: Dialect): Detection<F> {
    const chunks = this.chunks;
    this.chunks = [];
    this.phase = 'done';
    return { state: 'decided', dialect, chunks };
  }

  /** The u32 (host order) at `offset` in the bytes held so far. */
  private u32(offset: number): number {
    const four = new Uint8Array(4);
    let at = 0;
    for (const c of this.chunks) {
      for (let i = 0; i < 4; i++) {
        const k = offset + i - at;
        if (k >= 0 && k < c.bytes.byteLength) four[i] = c.bytes[k]!;
      }
      at += c.bytes.byteLength;
    }
    return new DataView(four.buffer).getUint32(0, new Uint8Array(new Uint16Array([1]).buffer)[0] === 1);
  }
}
