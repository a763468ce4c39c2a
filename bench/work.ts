/**
 * The bench's workload, the same for every system: an application socket
 * that talks to a backend through the TLS side, and the backend's protocol.
 */
import { once } from 'node:events';
import * as net from 'node:net';

export function log(s: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${s}\n`);
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<T>((_, reject) => (t = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms))),
  ]);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------
// The backend protocol: a 9-byte header (mode, u64 count), then
//   E: echo everything;  U: sink `count` bytes, then answer "K";
//   D: send `count` bytes while sinking `count` bytes, then answer "K".

const CHUNK = Buffer.alloc(64 * 1024, 0x61);

export async function pump(s: net.Socket, n: number): Promise<void> {
  let left = n;
  while (left > 0) {
    if (s.destroyed) throw new Error('socket closed while sending');
    const k = Math.min(left, CHUNK.length);
    left -= k;
    if (!s.write(k === CHUNK.length ? CHUNK : CHUNK.subarray(0, k))) {
      await drainOrClose(s);
    }
  }
}

/** Wait for 'drain' (or 'close'), leaving no listener behind. */
function drainOrClose(s: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      s.off('drain', done);
      s.off('close', done);
      resolve();
    };
    s.on('drain', done);
    s.on('close', done);
  });
}

export function header(mode: 'E' | 'U' | 'D', n: number): Buffer {
  const h = Buffer.alloc(9);
  h.write(mode, 0, 'latin1');
  h.writeBigUInt64BE(BigInt(n), 1);
  return h;
}

export function serveBackend(s: net.Socket): void {
  s.on('error', () => {});
  let head = Buffer.alloc(0);
  let mode = '';
  let want = 0;
  let got = 0;
  let sent: Promise<void> = Promise.resolve();
  let acked = false;
  s.on('data', (chunk: Buffer) => {
    if (!mode) {
      head = Buffer.concat([head, chunk]);
      if (head.length < 9) return;
      mode = String.fromCharCode(head[0]!);
      want = Number(head.readBigUInt64BE(1));
      chunk = head.subarray(9);
      if (mode === 'D') sent = pump(s, want);
    }
    if (mode === 'E') {
      if (chunk.length) s.write(chunk);
      return;
    }
    got += chunk.length;
    if (got >= want && !acked) {
      acked = true;
      sent.then(() => s.write('K')).catch(() => s.destroy());
    }
  });
}

/** Bytes arriving on the application side, with a wait for a total. */
export class Counter {
  n = 0;
  private waiter?: { at: number; resolve: () => void };
  constructor(readonly s: net.Socket) {
    s.on('data', (b: Buffer) => {
      this.n += b.length;
      if (this.waiter && this.n >= this.waiter.at) {
        const w = this.waiter;
        this.waiter = undefined;
        w.resolve();
      }
    });
    s.on('error', () => {});
  }
  until(at: number, ms: number): Promise<void> {
    if (this.n >= at) return Promise.resolve();
    return withTimeout(
      new Promise<void>((resolve, reject) => {
        const onClose = () => reject(new Error(`closed after ${this.n} of ${at} bytes`));
        this.waiter = {
          at,
          resolve: () => {
            this.s.off('close', onClose);
            resolve();
          },
        };
        this.s.once('close', onClose);
      }),
      ms,
      `waiting for ${at} bytes`,
    );
  }
}

export function closeConn(s: net.Socket): Promise<void> {
  if (s.destroyed) return Promise.resolve();
  const closed = once(s, 'close').then(() => {});
  s.destroy();
  return closed;
}

