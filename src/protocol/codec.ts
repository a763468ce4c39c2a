/**
 * Encode and decode the 376-byte `struct tlspool_command`. Pure: plain
 * Uint8Array/DataView, no Node APIs, so it runs in the daemon, the CLI, the
 * tests and the browser alike. Every offset comes from layout.ts.
 */
import { Cmd, LocalCmd } from './constants';
import { copyPin } from './pin';
import { COMMAND_SIZE, DATA_OFFSET, DATA_SIZE, type Field, field, HEADER, PAYLOADS } from './layout';
import { Failure } from '../model/failure';

/** Integers travel in host byte order; the daemon and its clients share a host. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export interface ErrorPayload {
  tlserrno: number;
  message: string;
}
export interface PingPayload {
  YYYYMMDD_producer: string;
}
export interface StartTlsPayload {
  flags: number;
  local: number;
  ipproto: number;
  streamid: number;
  localid: string;
  remoteid: string;
}
export interface PinEntryPayload {
  flags: number;
  attempt: number;
  timeout_us: number;
  /** Bytes, not a string: a PIN must be wipeable after use. */
  pin: Uint8Array;
  prompt: string;
  token_manuf: string;
  token_model: string;
  token_serial: string;
  token_label: string;
}

interface Head {
  reqid: number;
  cbid: number;
}
export type Packet = Head &
  (
    | { cmd: typeof Cmd.SUCCESS }
    | { cmd: typeof Cmd.ERROR; error: ErrorPayload }
    | { cmd: typeof Cmd.PING; ping: PingPayload }
    | {
        cmd: typeof Cmd.STARTTLS_CLIENT | typeof Cmd.STARTTLS_SERVER | typeof Cmd.STARTTLS_LOCALID;
        starttls: StartTlsPayload;
      }
    | { cmd: typeof Cmd.PINENTRY | typeof LocalCmd.LOCK | typeof LocalCmd.TOKEN_STATE | typeof LocalCmd.LOOP_STATS; pinentry: PinEntryPayload }
    /** Any other tag: the union is kept as bytes so nothing is lost. */
    | { cmd: number; raw: Uint8Array }
  );

/** EINVAL: a packet that cannot be decoded, with the ids the server's ERROR answer must carry. */
export class MalformedPacket extends Failure {
  constructor(
    readonly reqid: number,
    readonly cbid: number,
    readonly cmd: number,
    message: string,
  ) {
    super('EINVAL', message);
  }
}

/** Text fields must be UTF-8: decoding never replaces bytes, so what is echoed back is what came in. */
const utf8Strict = new TextDecoder('utf-8', { fatal: true });
/** Only for cutting our own text at a character boundary (fitString). */
const utf8Decoder = new TextDecoder('utf-8', { fatal: false });
const utf8Encoder = new TextEncoder();

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The bytes of a C string field up to its NUL, or null when there is no NUL. */
function cString(bytes: Uint8Array, f: Field): Uint8Array | null {
  const slice = bytes.subarray(f.offset, f.offset + f.size);
  const nul = slice.indexOf(0);
  return nul < 0 ? null : slice.subarray(0, nul);
}

type Decoded = Record<string, number | string | Uint8Array>;

function readPayload(bytes: Uint8Array, list: readonly Field[], head: Head & { cmd: number }): Decoded {
  const dv = view(bytes);
  const out: Decoded = {};
  for (const f of list) {
    switch (f.kind) {
      case 'u8':
        out[f.name] = dv.getUint8(f.offset);
        break;
      case 'u16':
        out[f.name] = dv.getUint16(f.offset, LITTLE_ENDIAN);
        break;
      case 'u32':
        out[f.name] = dv.getUint32(f.offset, LITTLE_ENDIAN);
        break;
      case 'i32':
        out[f.name] = dv.getInt32(f.offset, LITTLE_ENDIAN);
        break;
      case 'string': {
        const s = cString(bytes, f);
        if (s === null) {
          throw new MalformedPacket(head.reqid, head.cbid, head.cmd, `${f.name} is not NUL-terminated within its ${f.size} bytes`);
        }
        // The PIN stays bytes (a copy the caller owns and wipes); the rest are text.
        // (new Uint8Array copies even when `bytes` is a Buffer, whose slice() would not.)
        if (f.name === 'pin') {
          out[f.name] = copyPin(s);
          break;
        }
        try {
          out[f.name] = utf8Strict.decode(s);
        } catch {
          throw new MalformedPacket(head.reqid, head.cbid, head.cmd, `${f.name} is not UTF-8 text`);
        }
        break;
      }
      case 'pad':
        break;
    }
  }
  return out;
}

/** Decode exactly one command; throws MalformedPacket on a string field without its NUL or not in UTF-8. */
export function decode(bytes: Uint8Array): Packet {
  if (bytes.byteLength !== COMMAND_SIZE) {
    throw new RangeError(`a command is ${COMMAND_SIZE} bytes, got ${bytes.byteLength}`);
  }
  const dv = view(bytes);
  const head = {
    reqid: dv.getUint16(HEADER[0].offset, LITTLE_ENDIAN),
    cbid: dv.getUint16(HEADER[1].offset, LITTLE_ENDIAN),
    cmd: dv.getUint32(HEADER[2].offset, LITTLE_ENDIAN),
  };
  switch (head.cmd) {
    case Cmd.SUCCESS:
      return { ...head, cmd: Cmd.SUCCESS };
    case Cmd.ERROR:
      return { ...head, cmd: Cmd.ERROR, error: readPayload(bytes, PAYLOADS.pioc_error, head) as unknown as ErrorPayload };
    case Cmd.PING:
      return { ...head, cmd: Cmd.PING, ping: readPayload(bytes, PAYLOADS.pioc_ping, head) as unknown as PingPayload };
    case Cmd.STARTTLS_CLIENT:
    case Cmd.STARTTLS_SERVER:
    case Cmd.STARTTLS_LOCALID:
      return {
        ...head,
        cmd: head.cmd,
        starttls: readPayload(bytes, PAYLOADS.pioc_starttls, head) as unknown as StartTlsPayload,
      };
    case Cmd.PINENTRY:
    case LocalCmd.LOCK:
    case LocalCmd.TOKEN_STATE:
    case LocalCmd.LOOP_STATS:
      return {
        ...head,
        cmd: head.cmd,
        pinentry: readPayload(bytes, PAYLOADS.pioc_pinentry, head) as unknown as PinEntryPayload,
      };
    default:
      return { ...head, raw: bytes.slice(DATA_OFFSET, DATA_OFFSET + DATA_SIZE) };
  }
}

/** Read only the header; works on any 376 bytes, even a malformed command. */
export function decodeHeader(bytes: Uint8Array): Head & { cmd: number } {
  const dv = view(bytes);
  return {
    reqid: dv.getUint16(HEADER[0].offset, LITTLE_ENDIAN),
    cbid: dv.getUint16(HEADER[1].offset, LITTLE_ENDIAN),
    cmd: dv.getUint32(HEADER[2].offset, LITTLE_ENDIAN),
  };
}

function writePayload(bytes: Uint8Array, list: readonly Field[], values: object): void {
  const dv = view(bytes);
  const v = values as Record<string, unknown>;
  for (const f of list) {
    const x = v[f.name];
    switch (f.kind) {
      case 'u8':
        dv.setUint8(f.offset, checkInt(f, x, 0xff));
        break;
      case 'u16':
        dv.setUint16(f.offset, checkInt(f, x, 0xffff), LITTLE_ENDIAN);
        break;
      case 'u32':
        dv.setUint32(f.offset, checkInt(f, x, 0xffffffff), LITTLE_ENDIAN);
        break;
      case 'i32':
        dv.setInt32(f.offset, checkInt(f, x, 0x7fffffff, -0x80000000), LITTLE_ENDIAN);
        break;
      case 'string': {
        const s = x instanceof Uint8Array ? x : utf8Encoder.encode(String(x ?? ''));
        if (s.byteLength > f.size - 1) {
          throw new RangeError(`${f.name} is ${s.byteLength} bytes; at most ${f.size - 1} fit`);
        }
        if (s.indexOf(0) >= 0) throw new RangeError(`${f.name} contains a NUL byte`);
        bytes.set(s, f.offset);
        break;
      }
      case 'pad':
        break;
    }
  }
}

function checkInt(f: Field, x: unknown, max: number, min = 0): number {
  const n = x === undefined ? 0 : x;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    throw new RangeError(`${f.name} must be an integer in [${min}, ${max}], got ${String(x)}`);
  }
  return n;
}

/** Encode one command into a fresh, zero-filled 376-byte array. */
export function encode(p: Packet): Uint8Array {
  const bytes = new Uint8Array(COMMAND_SIZE);
  const dv = view(bytes);
  dv.setUint16(HEADER[0].offset, checkInt(HEADER[0], p.reqid, 0xffff), LITTLE_ENDIAN);
  dv.setUint16(HEADER[1].offset, checkInt(HEADER[1], p.cbid, 0xffff), LITTLE_ENDIAN);
  dv.setUint32(HEADER[2].offset, checkInt(HEADER[2], p.cmd, 0xffffffff), LITTLE_ENDIAN);
  if ('error' in p) writePayload(bytes, PAYLOADS.pioc_error, p.error);
  else if ('ping' in p) writePayload(bytes, PAYLOADS.pioc_ping, p.ping);
  else if ('starttls' in p) writePayload(bytes, PAYLOADS.pioc_starttls, p.starttls);
  else if ('pinentry' in p) writePayload(bytes, PAYLOADS.pioc_pinentry, p.pinentry);
  else if ('raw' in p) {
    if (p.raw.byteLength > DATA_SIZE) throw new RangeError(`raw payload is over ${DATA_SIZE} bytes`);
    bytes.set(p.raw, DATA_OFFSET);
  }
  return bytes;
}

/**
 * Cut a text to fit a C string field of `size` bytes, on a UTF-8 character
 * boundary, so messages we generate never fail to encode.
 */
export function fitString(text: string, size: number): string {
  const bytes = utf8Encoder.encode(text.replace(/\0/g, ''));
  if (bytes.byteLength <= size - 1) return text.replace(/\0/g, '');
  let end = size - 1;
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return utf8Decoder.decode(bytes.subarray(0, end));
}

/** An ERROR response whose message always fits. */
export function errorPacket(reqid: number, cbid: number, tlserrno: number, message: string): Packet {
  return { reqid, cbid, cmd: Cmd.ERROR, error: { tlserrno, message: fitString(message, field('pioc_error', 'message').size) } };
}
