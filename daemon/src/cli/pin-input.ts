/**
 * Reading a PIN as bytes, never as a string: from the terminal without echo
 * (/dev/tty in raw mode; Enter ends it, Ctrl-C or an empty line cancels), or
 * one line at a time from a descriptor a script gave (--pin-fd N; end of
 * input cancels). Every buffer that held the PIN is wiped.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as tty from 'node:tty';

const MAX_PIN = 127;

/** One line from the terminal, unechoed; null for Ctrl-C or an empty line. */
export function readPinFromTty(question: string): Promise<Uint8Array | null> {
  const fd = fs.openSync('/dev/tty', 'r+');
  const input = new tty.ReadStream(fd);
  const output = new tty.WriteStream(fd);
  // Echo off before the question shows, so nothing typed after it is echoed.
  input.setRawMode(true);
  output.write(question);
  const buf = new Uint8Array(MAX_PIN + 1);
  let len = 0;
  return new Promise((resolve) => {
    const finish = (ok: boolean) => {
      input.off('data', onData);
      input.setRawMode(false);
      output.write('\n');
      input.destroy();
      output.destroy();
      const pin = ok && len > 0 ? new Uint8Array(buf.subarray(0, len)) : null;
      buf.fill(0);
      resolve(pin);
    };
    const onData = (chunk: Buffer) => {
      for (let i = 0; i < chunk.length; i++) {
        const c = chunk[i]!;
        if (c === 0x03 || c === 0x04) return wipeThen(chunk, () => finish(false)); // Ctrl-C, Ctrl-D
        if (c === 0x0d || c === 0x0a) return wipeThen(chunk, () => finish(true));
        if (c === 0x7f || c === 0x08) len = Math.max(0, len - 1);
        else if (c === 0x15) len = 0; // Ctrl-U
        else if (c >= 0x20 && len < MAX_PIN) buf[len++] = c;
      }
      chunk.fill(0);
    };
    input.on('data', onData);
  });
}

function wipeThen(chunk: Buffer, then: () => void): void {
  chunk.fill(0);
  then();
}

/** Reads PINs line by line from a descriptor; null at end of input or for an empty line. */
export class PinLineReader {
  private pending = Buffer.alloc(0);
  private eof = false;
  private waiter?: () => void;
  private readonly stream: NodeJS.ReadableStream & { destroy(): void };

  constructor(fd: number) {
    // A pipe or socket is polled (a blocking read on the thread pool would
    // keep the process from exiting); a file is read as a file.
    const st = fs.fstatSync(fd);
    this.stream = st.isFIFO() || st.isSocket() ? new net.Socket({ fd, readable: true, writable: false }) : fs.createReadStream('', { fd, autoClose: true });
    this.stream.on('data', (chunk: string | Buffer) => {
      const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
      const next = Buffer.concat([this.pending, b]);
      this.pending.fill(0);
      b.fill(0);
      this.pending = next;
      this.waiter?.();
    });
    const end = () => {
      this.eof = true;
      this.waiter?.();
    };
    this.stream.on('end', end);
    this.stream.on('error', end);
  }

  async next(): Promise<Uint8Array | null> {
    for (;;) {
      const nl = this.pending.indexOf(0x0a);
      if (nl >= 0) {
        let line = this.pending.subarray(0, nl);
        if (line.length > 0 && line[line.length - 1] === 0x0d) line = line.subarray(0, line.length - 1);
        const pin = line.length > 0 ? new Uint8Array(line) : null;
        const rest = Buffer.from(this.pending.subarray(nl + 1));
        this.pending.fill(0);
        this.pending = rest;
        return pin;
      }
      if (this.eof) {
        const pin = this.pending.length > 0 ? new Uint8Array(this.pending) : null;
        this.pending.fill(0);
        this.pending = Buffer.alloc(0);
        return pin;
      }
      await new Promise<void>((r) => (this.waiter = r));
      this.waiter = undefined;
    }
  }

  close(): void {
    this.pending.fill(0);
    this.stream.destroy();
  }
}
