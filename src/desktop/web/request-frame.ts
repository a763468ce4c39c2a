/**
 * A WebSocket request frame (one JSON object, ws-protocol.ts) parsed so that
 * an answerPin's PIN never becomes a JavaScript string, which could not be
 * wiped: the PIN is decoded from the frame's bytes into a Uint8Array, its
 * place in the frame is overwritten (with a number and spaces), and only
 * then is the frame turned into text for JSON.parse. The caller wipes the
 * frame afterwards, and the PIN bytes once they are used.
 *
 * Which string is "the PIN" follows JSON.parse exactly: the value of the
 * last "pin" member of the last "params" member of the top-level object.
 * Every "pin" string of every "params" object is overwritten, so none of
 * them reaches a string either. Everything else is left to JSON.parse.
 */
import { pinBytes } from '../../protocol/pin';

export interface ParsedRequest {
  /** The frame as JSON.parse gives it, with `params.pin` the bytes when it was a string. */
  readonly msg: unknown;
  /** The same bytes as `params.pin`; undefined when there was no PIN string. */
  readonly pin?: Uint8Array;
}

/** Where a member's value starts and ends (exclusive) in the frame. */
interface Member {
  readonly key: string;
  readonly start: number;
  readonly end: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const PLACEHOLDER = 0x30; // '0': a value JSON.parse reads as a number
const SPACE = 0x20;

function isSpace(c: number | undefined): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

function isHex(c: number | undefined): boolean {
  return c !== undefined && ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66));
}

function malformed(): never {
  throw new SyntaxError('a request must be one JSON object');
}

/** A structural walk over JSON bytes: objects, their keys, and where each value lies. */
class Walker {
  i = 0;
  constructor(private readonly b: Uint8Array) {}

  spaces(): void {
    while (isSpace(this.b[this.i])) this.i++;
  }

  /** At an opening quote: the index after the closing one. Checks the string as JSON does. */
  string(): number {
    const b = this.b;
    if (b[this.i] !== QUOTE) malformed();
    for (let i = this.i + 1; i < b.length; i++) {
      const c = b[i]!;
      if (c === QUOTE) return (this.i = i + 1);
      if (c < 0x20) malformed();
      if (c === BACKSLASH) {
        const e = b[++i];
        if (e === 0x75) {
          // \uXXXX
          if (!isHex(b[i + 1]) || !isHex(b[i + 2]) || !isHex(b[i + 3]) || !isHex(b[i + 4])) malformed();
          i += 4;
        } else if (e !== QUOTE && e !== BACKSLASH && e !== 0x2f && e !== 0x62 && e !== 0x66 && e !== 0x6e && e !== 0x72 && e !== 0x74) {
          malformed();
        }
      }
    }
    return malformed();
  }

  /** Past one value of any kind, without looking inside it beyond its brackets and strings. */
  value(): void {
    const b = this.b;
    const c = b[this.i];
    if (c === QUOTE) {
      this.string();
      return;
    }
    if (c === 0x7b || c === 0x5b) {
      let depth = 0;
      while (this.i < b.length) {
        const d = b[this.i]!;
        if (d === QUOTE) {
          this.string();
          continue;
        }
        if (d === 0x7b || d === 0x5b) depth++;
        else if (d === 0x7d || d === 0x5d) depth--;
        this.i++;
        if (depth === 0) return;
      }
      malformed();
    }
    // A number or a literal: JSON.parse judges it; here it only has to end.
    const start = this.i;
    while (this.i < b.length && !isSpace(b[this.i]) && b[this.i] !== 0x2c && b[this.i] !== 0x7d && b[this.i] !== 0x5d) this.i++;
    if (this.i === start) malformed();
  }

  /** At an opening brace: the members, each value skipped; leaves `i` after the closing brace. */
  object(): Member[] {
    const b = this.b;
    const members: Member[] = [];
    this.i++;
    this.spaces();
    if (b[this.i] === 0x7d) {
      this.i++;
      return members;
    }
    for (;;) {
      this.spaces();
      const keyStart = this.i;
      const keyEnd = this.string();
      // Keys are not secret; JSON.parse decodes their escapes as it would in the frame.
      const key = JSON.parse(Buffer.from(b.buffer, b.byteOffset + keyStart, keyEnd - keyStart).toString('utf8')) as string;
      this.spaces();
      if (b[this.i] !== 0x3a) malformed();
      this.i++;
      this.spaces();
      const start = this.i;
      this.value();
      members.push({ key, start, end: this.i });
      this.spaces();
      if (b[this.i] === 0x2c) {
        this.i++;
        continue;
      }
      if (b[this.i] === 0x7d) {
        this.i++;
        return members;
      }
      malformed();
    }
  }
}

function putUtf8(out: Uint8Array, at: number, cp: number): number {
  if (cp < 0x80) {
    out[at] = cp;
    return at + 1;
  }
  if (cp < 0x800) {
    out[at] = 0xc0 | (cp >> 6);
    out[at + 1] = 0x80 | (cp & 0x3f);
    return at + 2;
  }
  if (cp < 0x10000) {
    out[at] = 0xe0 | (cp >> 12);
    out[at + 1] = 0x80 | ((cp >> 6) & 0x3f);
    out[at + 2] = 0x80 | (cp & 0x3f);
    return at + 3;
  }
  out[at] = 0xf0 | (cp >> 18);
  out[at + 1] = 0x80 | ((cp >> 12) & 0x3f);
  out[at + 2] = 0x80 | ((cp >> 6) & 0x3f);
  out[at + 3] = 0x80 | (cp & 0x3f);
  return at + 4;
}

/**
 * The UTF-8 bytes of the JSON string at [start, end) (quotes included), as
 * TextEncoder would encode what JSON.parse gives (a lone surrogate becomes
 * U+FFFD). The text is already checked by Walker.string. Decoded text is
 * never longer than its JSON spelling, so one array of that size holds it
 * (pinBytes: one the garbage collector does not move and copy); the result
 * is a view of its first bytes (the rest stays zero).
 */
function decodeString(b: Uint8Array, start: number, end: number): Uint8Array {
  const out = pinBytes(Math.max(0, end - start - 2));
  let o = 0;
  const unit = (at: number) => parseInt(String.fromCharCode(b[at]!, b[at + 1]!, b[at + 2]!, b[at + 3]!), 16);
  for (let i = start + 1; i < end - 1; i++) {
    const c = b[i]!;
    if (c !== BACKSLASH) {
      out[o++] = c; // already UTF-8 (ws checks text frames)
      continue;
    }
    const e = b[++i]!;
    switch (e) {
      case 0x62:
        out[o++] = 0x08;
        break;
      case 0x66:
        out[o++] = 0x0c;
        break;
      case 0x6e:
        out[o++] = 0x0a;
        break;
      case 0x72:
        out[o++] = 0x0d;
        break;
      case 0x74:
        out[o++] = 0x09;
        break;
      case 0x75: {
        let cp = unit(i + 1);
        i += 4;
        if (cp >= 0xd800 && cp <= 0xdbff && b[i + 1] === BACKSLASH && b[i + 2] === 0x75) {
          const low = unit(i + 3);
          if (low >= 0xdc00 && low <= 0xdfff) {
            cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
            i += 6;
          }
        }
        if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
        o = putUtf8(out, o, cp);
        break;
      }
      default:
        out[o++] = e; // \" \\ \/
    }
  }
  return out.subarray(0, o);
}

/**
 * Parse one request frame. Throws SyntaxError when it is not JSON. The
 * frame's PIN strings are overwritten in `frame` itself; wipe it after.
 */
export function parseRequestFrame(frame: Uint8Array): ParsedRequest {
  const w = new Walker(frame);
  w.spaces();
  const spans: Member[] = [];
  let pinSpan: Member | undefined;
  if (frame[w.i] === 0x7b) {
    for (const m of w.object()) {
      if (m.key !== 'params') continue;
      let last: Member | undefined;
      if (frame[m.start] === 0x7b) {
        const inner = new Walker(frame);
        inner.i = m.start;
        for (const p of inner.object()) {
          if (p.key !== 'pin') continue;
          last = frame[p.start] === QUOTE ? p : undefined;
          if (last) spans.push(p);
        }
      }
      pinSpan = last; // a later "params" replaces an earlier one, as in JSON.parse
    }
  }
  const pin = pinSpan && decodeString(frame, pinSpan.start, pinSpan.end);
  for (const s of spans) {
    frame[s.start] = PLACEHOLDER;
    frame.fill(SPACE, s.start + 1, s.end);
  }
  let msg: unknown;
  try {
    msg = JSON.parse(Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength).toString('utf8'));
    if (pin) {
      const params = (msg as { params?: { pin?: unknown } }).params;
      // The walk and JSON.parse agree on where the PIN was; anything else is a bug, not a request.
      if (params?.pin !== 0) malformed();
      params.pin = pin;
    }
  } catch (e) {
    pin?.fill(0);
    throw e;
  }
  return { msg, pin };
}
