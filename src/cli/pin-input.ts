/**
 * Reading a PIN as bytes, never as a string: from the terminal without echo
 * (/dev/tty in raw mode; Enter ends it, Ctrl-C or an empty line cancels), or
 * one line at a time from a descriptor a script gave (--pin-fd N; end of
 * input cancels). A PIN the pool cannot take (protocol/pin.ts: more than
 * PIN_MAX_BYTES bytes, or a NUL) is refused where it is read, and what is
 * wrong is said; neither reader holds more of it than fits a PIN. Every
 * buffer that held the PIN is wiped.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as tty from 'node:tty';
import { copyPin, PIN_HAS_NUL, PIN_MAX_BYTES, PIN_TOO_LONG, pinBytes, pinProblem } from '../protocol/pin';

/**
 * One PIN from the terminal, unechoed; null for Ctrl-C or an empty line. A
 * PIN the pool cannot take is refused on the terminal, and the question
 * (not the intro) asked again.
 */
export function readPinFromTty(question: string, intro?: string): Promise<Uint8Array | null> {
  const fd = fs.openSync('/dev/tty', 'r+');
  const input = new tty.ReadStream(fd);
  const output = new tty.WriteStream(fd);
  // Echo off before the question shows, so nothing typed after it is echoed.
  input.setRawMode(true);
  // What the PIN is for is said once; only the question is asked again.
  if (intro) output.write(`${intro}\n`);
  output.write(question);
  // The first PIN_MAX_BYTES bytes typed; `typed` counts them all, so a PIN
  // that is too long is known without keeping what does not fit.
  const buf = pinBytes(PIN_MAX_BYTES);
  let typed = 0;
  return new Promise((resolve) => {
    const finish = (pin: Uint8Array | null) => {
      input.off('data', onData);
      input.setRawMode(false);
      output.write('\n');
      input.destroy();
      output.destroy();
      buf.fill(0);
      resolve(pin);
    };
    /** Enter: true when the PIN is read (or cancelled), false when it was refused and is asked again. */
    const enter = (): boolean => {
      if (typed === 0) {
        finish(null);
        return true;
      }
      const problem = typed > PIN_MAX_BYTES ? PIN_TOO_LONG : pinProblem(buf.subarray(0, typed));
      if (!problem) {
        finish(copyPin(buf.subarray(0, typed)));
        return true;
      }
      buf.fill(0);
      typed = 0;
      // Raw mode: the terminal adds no carriage return of its own.
      output.write(`\r\n${problem}; type it again\r\n${question}`);
      return false;
    };
    const onData = (chunk: Buffer) => {
      for (let i = 0; i < chunk.length; i++) {
        const c = chunk[i]!;
        if (c === 0x03 || c === 0x04) return wipeThen(chunk, () => finish(null)); // Ctrl-C, Ctrl-D
        if ((c === 0x0d || c === 0x0a) && enter()) return void chunk.fill(0);
        if (c === 0x0d || c === 0x0a) continue;
        if (c === 0x7f || c === 0x08) typed = Math.max(0, typed - 1);
        else if (c === 0x15) typed = 0; // Ctrl-U
        else if (c >= 0x20 || c === 0x00) {
          // A NUL (Ctrl-@) is kept, to be refused on Enter rather than dropped unseen.
          if (typed < PIN_MAX_BYTES) buf[typed] = c;
          typed++;
        }
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

/** A line that cannot be a PIN: what is wrong with it. */
export interface RefusedLine {
  readonly refused: string;
}

/**
 * Reads PINs line by line from a descriptor: the PIN as bytes, null at end
 * of input or for an empty line, or a RefusedLine. A line is refused as soon
 * as it proves too long or holds a NUL, and the rest of it is read and
 * dropped. Input goes through one small buffer of this reader's own (reads
 * land in it directly, and it is wiped as it is used), read only as PINs are
 * asked for: however long a line, nothing of it accumulates, and no copy of
 * the input is left behind for the garbage collector.
 */
export class PinLineReader {
  private static readonly CHUNK = 16 * 1024;
  /** The current line: a PIN and a CR before its LF. */
  private readonly line = pinBytes(PIN_MAX_BYTES + 1);
  private len = 0;
  /** The current line was refused: drop it up to its LF. */
  private dropping = false;
  private readonly input = Buffer.alloc(PinLineReader.CHUNK);
  /** input[at, filled) is read and not yet looked at. */
  private filled = 0;
  private at = 0;
  private eof = false;
  private reading = false;
  private waiter?: () => void;
  private readonly more: () => void;
  private readonly stop: () => void;

  constructor(fd: number) {
    const got = (n: number) => {
      this.reading = false;
      if (n > 0) {
        this.filled = n;
        this.at = 0;
      } else this.eof = true;
      this.waiter?.();
    };
    const end = () => got(0);
    const st = fs.fstatSync(fd);
    if (st.isFIFO() || st.isSocket()) {
      // A pipe or socket is polled (a blocking read on the thread pool would
      // keep the process from exiting), straight into `input`; each read
      // pauses the socket until that chunk is used up.
      // (Node takes onread in the constructor too; its types only list it for connect.)
      const opts: net.SocketConstructorOpts & { onread: net.OnReadOpts } = {
        fd,
        readable: true,
        writable: false,
        onread: {
          buffer: this.input,
          callback: (n: number) => {
            got(n);
            return false;
          },
        },
      };
      const sock = new net.Socket(opts);
      sock.on('end', end);
      sock.on('error', end);
      this.more = () => sock.resume();
      this.stop = () => sock.destroy();
    } else {
      // A file (or a terminal) is read as a file, one chunk at a time.
      this.more = () => fs.read(fd, this.input, 0, this.input.length, null, (e, n) => got(e ? 0 : n));
      this.stop = () => fs.close(fd, () => undefined);
    }
  }

  async next(): Promise<Uint8Array | null | RefusedLine> {
    for (;;) {
      const got = this.scan();
      if (got !== undefined) return got;
      if (this.eof) return this.lastLine();
      const arrived = new Promise<void>((r) => (this.waiter = r));
      if (!this.reading) {
        this.reading = true;
        this.more();
      }
      await arrived;
      this.waiter = undefined;
    }
  }

  close(): void {
    this.wipe();
    this.input.fill(0);
    this.stop();
  }

  /** Through what is read: a line's outcome, or undefined once it is used up. */
  private scan(): Uint8Array | null | RefusedLine | undefined {
    const b = this.input;
    while (this.at < this.filled) {
      const c = b[this.at]!;
      b[this.at++] = 0;
      if (c === 0x0a) {
        if (this.dropping) {
          this.dropping = false;
          continue;
        }
        if (this.len > 0 && this.line[this.len - 1] === 0x0d) this.len--;
        return this.take();
      }
      if (this.dropping) continue;
      if (c === 0x00) return this.refuse(PIN_HAS_NUL);
      if (this.len === this.line.length) return this.refuse(PIN_TOO_LONG);
      this.line[this.len++] = c;
    }
    this.at = this.filled = 0;
    return undefined;
  }

  /** End of input: what is left of the last line (it needs no LF). */
  private lastLine(): Uint8Array | null | RefusedLine {
    if (this.dropping) {
      this.dropping = false;
      return null;
    }
    return this.take();
  }

  /** The line so far as a PIN (null when empty), or its refusal. */
  private take(): Uint8Array | null | RefusedLine {
    const pin = this.line.subarray(0, this.len);
    const problem = pinProblem(pin);
    const out = problem ? { refused: problem } : pin.length > 0 ? copyPin(pin) : null;
    this.wipe();
    return out;
  }

  private refuse(problem: string): RefusedLine {
    this.wipe();
    this.dropping = true;
    return { refused: problem };
  }

  private wipe(): void {
    this.line.fill(0);
    this.len = 0;
  }
}
