/**
 * Encode and decode the 388-byte V2 command. Pure, like the V1 codec; every
 * offset comes from v2-layout.ts. Packets the pool builds are zero-filled
 * beyond what is written, the rest of a string after its NUL included.
 */
import { MalformedPacket } from './codec';
import { copyPin } from './pin';
import { V2Cmd } from './v2-constants';
import { V2_COMMAND_SIZE, V2_DATA_OFFSET, V2_DATA_SIZE, V2_HEADER, V2_PAYLOADS, type V2Field, type V2PayloadName } from './v2-layout';

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export interface V2ErrorPayload {
  tlserrno: number;
  message: string;
}
export interface V2PingPayload {
  YYYYMMDD_producer: string;
  facilities: number;
}
export interface V2StartTlsPayload {
  flags: number;
  local: number;
  ipproto: number;
  streamid: number;
  localid: string;
  remoteid: string;
  ctlkey: Uint8Array;
  service: string;
  timeout: number;
}
export interface V2PinEntryPayload {
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
export interface V2LidEntryPayload {
  flags: number;
  maxlevels: number;
  timeout: number;
  localid: string;
  remoteid: string;
}
export interface V2ControlPayload {
  flags: number;
  ctlkey: Uint8Array;
  name: Uint8Array;
}
export interface V2PrngPayload {
  in1_len: number;
  in2_len: number;
  prng_len: number;
  buffer: Uint8Array;
}
export interface V2InfoPayload {
  ctlkey: Uint8Array;
  info_kind: number;
  len: number;
  buffer: Uint8Array;
}

interface Head {
  reqid: number;
  cbid: number;
}
type StartTlsTag = typeof V2Cmd.STARTTLS | typeof V2Cmd.STARTTLS_LOCALID | typeof V2Cmd.PLAINTEXT_CONNECT;
type LidTag = typeof V2Cmd.LIDENTRY_REGISTER | typeof V2Cmd.LIDENTRY_CALLBACK;
type ControlTag = typeof V2Cmd.CONTROL_DETACH | typeof V2Cmd.CONTROL_REATTACH | typeof V2Cmd.SUCCESS;

export type V2Packet = Head &
  (
    | { cmd: typeof V2Cmd.ERROR; error: V2ErrorPayload }
    | { cmd: typeof V2Cmd.PING; ping: V2PingPayload }
    | { cmd: StartTlsTag; starttls: V2StartTlsPayload }
    | { cmd: typeof V2Cmd.PINENTRY; pinentry: V2PinEntryPayload }
    | { cmd: LidTag; lidentry: V2LidEntryPayload }
    | { cmd: ControlTag; control: V2ControlPayload }
    | { cmd: typeof V2Cmd.PRNG; prng: V2PrngPayload }
    | { cmd: typeof V2Cmd.INFO; info: V2InfoPayload }
    /** Any other tag (and SUCCESS from a client): the union kept as bytes. */
    | { cmd: number; raw: Uint8Array }
  );

const utf8Strict = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

type Decoded = Record<string, number | string | Uint8Array>;

function readText(bytes: Uint8Array, f: V2Field, head: Head & { cmd: number }): string | Uint8Array {
  const slice = bytes.subarray(f.offset, f.offset + f.size);
  const nul = slice.indexOf(0);
  if (nul < 0 && f.kind === 'string') {
    throw new MalformedPacket(head.reqid, head.cbid, head.cmd, `${f.name} is not NUL-terminated within its ${f.size} bytes`);
  }
  const s = slice.subarray(0, nul < 0 ? f.size : nul);
  if (f.name === 'pin') return copyPin(s);
  try {
    return utf8Strict.decode(s);
  } catch {
    throw new MalformedPacket(head.reqid, head.cbid, head.cmd, `${f.name} is not UTF-8 text`);
  }
}

function readPayload(bytes: Uint8Array, list: readonly V2Field[], head: Head & { cmd: number }): Decoded {
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
      case 'i16':
        out[f.name] = dv.getInt16(f.offset, LITTLE_ENDIAN);
        break;
      case 'u32':
        out[f.name] = dv.getUint32(f.offset, LITTLE_ENDIAN);
        break;
      case 'i32':
        out[f.name] = dv.getInt32(f.offset, LITTLE_ENDIAN);
        break;
      case 'string':
      case 'name':
        out[f.name] = readText(bytes, f, head);
        break;
      case 'bytes':
        out[f.name] = bytes.slice(f.offset, f.offset + f.size);
        break;
      case 'pad':
        break;
    }
  }
  return out;
}

/** The header of any 388 bytes (also a malformed command). */
export function decodeV2Header(bytes: Uint8Array): Head & { cmd: number } {
  const dv = view(bytes);
  return {
    reqid: dv.getUint16(V2_HEADER[0].offset, LITTLE_ENDIAN),
    cbid: dv.getUint16(V2_HEADER[1].offset, LITTLE_ENDIAN),
    cmd: dv.getUint32(V2_HEADER[2].offset, LITTLE_ENDIAN),
  };
}

/** Which payload a tag carries, both ways; undefined: kept raw. */
function payloadOf(cmd: number): [V2PayloadName, string] | undefined {
  switch (cmd) {
    case V2Cmd.ERROR:
      return ['pioc_error', 'error'];
    case V2Cmd.PING:
      return ['pioc_ping', 'ping'];
    case V2Cmd.STARTTLS:
    case V2Cmd.STARTTLS_LOCALID:
    case V2Cmd.PLAINTEXT_CONNECT:
      return ['pioc_starttls', 'starttls'];
    case V2Cmd.PINENTRY:
      return ['pioc_pinentry', 'pinentry'];
    case V2Cmd.LIDENTRY_REGISTER:
    case V2Cmd.LIDENTRY_CALLBACK:
      return ['pioc_lidentry', 'lidentry'];
    case V2Cmd.CONTROL_DETACH:
    case V2Cmd.CONTROL_REATTACH:
      return ['pioc_control', 'control'];
    case V2Cmd.PRNG:
      return ['pioc_prng', 'prng'];
    case V2Cmd.INFO:
      return ['pioc_info', 'info'];
    default:
      return undefined;
  }
}

/** Decode exactly one V2 command; throws MalformedPacket for a string without its NUL or not UTF-8. */
export function decodeV2(bytes: Uint8Array): V2Packet {
  if (bytes.byteLength !== V2_COMMAND_SIZE) {
    throw new RangeError(`a V2 command is ${V2_COMMAND_SIZE} bytes, got ${bytes.byteLength}`);
  }
  const head = decodeV2Header(bytes);
  const which = payloadOf(head.cmd);
  if (!which) return { ...head, raw: bytes.slice(V2_DATA_OFFSET, V2_DATA_OFFSET + V2_DATA_SIZE) };
  const [layout, key] = which;
  return { ...head, [key]: readPayload(bytes, V2_PAYLOADS[layout], head) } as unknown as V2Packet;
}

function checkInt(f: V2Field, x: unknown, max: number, min = 0): number {
  const n = x === undefined ? 0 : x;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    throw new RangeError(`${f.name} must be an integer in [${min}, ${max}], got ${String(x)}`);
  }
  return n;
}

function writeText(bytes: Uint8Array, f: V2Field, x: unknown): void {
  const s = x instanceof Uint8Array ? x : utf8Encoder.encode(String(x ?? ''));
  const room = f.kind === 'name' ? f.size : f.size - 1;
  if (s.byteLength > room) throw new RangeError(`${f.name} is ${s.byteLength} bytes; at most ${room} fit`);
  if (s.indexOf(0) >= 0) throw new RangeError(`${f.name} contains a NUL byte`);
  bytes.set(s, f.offset);
}

function writePayload(bytes: Uint8Array, list: readonly V2Field[], values: object): void {
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
      case 'i16':
        dv.setInt16(f.offset, checkInt(f, x, 0x7fff, -0x8000), LITTLE_ENDIAN);
        break;
      case 'u32':
        dv.setUint32(f.offset, checkInt(f, x, 0xffffffff), LITTLE_ENDIAN);
        break;
      case 'i32':
        dv.setInt32(f.offset, checkInt(f, x, 0x7fffffff, -0x80000000), LITTLE_ENDIAN);
        break;
      case 'string':
      case 'name':
        writeText(bytes, f, x);
        break;
      case 'bytes':
        if (x === undefined) break;
        if (!(x instanceof Uint8Array) || x.byteLength > f.size) throw new RangeError(`${f.name} must be at most ${f.size} bytes`);
        bytes.set(x, f.offset);
        break;
      case 'pad':
        break;
    }
  }
}

/** Encode one V2 command into a fresh, zero-filled 388-byte array. */
export function encodeV2(p: V2Packet): Uint8Array {
  const bytes = new Uint8Array(V2_COMMAND_SIZE);
  const dv = view(bytes);
  dv.setUint16(V2_HEADER[0].offset, checkInt(V2_HEADER[0], p.reqid, 0xffff), LITTLE_ENDIAN);
  dv.setUint16(V2_HEADER[1].offset, checkInt(V2_HEADER[1], p.cbid, 0xffff), LITTLE_ENDIAN);
  dv.setUint32(V2_HEADER[2].offset, checkInt(V2_HEADER[2], p.cmd, 0xffffffff), LITTLE_ENDIAN);
  if ('raw' in p) {
    if (p.raw.byteLength > V2_DATA_SIZE) throw new RangeError(`raw payload is over ${V2_DATA_SIZE} bytes`);
    bytes.set(p.raw, V2_DATA_OFFSET);
    return bytes;
  }
  const which = payloadOf(p.cmd) ?? (p.cmd === V2Cmd.SUCCESS ? (['pioc_control', 'control'] as const) : undefined);
  if (which) {
    const values = (p as unknown as Record<string, object>)[which[1]];
    if (values) writePayload(bytes, V2_PAYLOADS[which[0]], values);
  }
  return bytes;
}

const utf8Loose = new TextDecoder('utf-8', { fatal: false });

/** Cut our own text to fit a C string field of `size` bytes, on a character boundary. */
function fit(text: string, size: number): string {
  const b = utf8Encoder.encode(text.replace(/\0/g, ''));
  if (b.byteLength <= size - 1) return text.replace(/\0/g, '');
  let end = size - 1;
  while (end > 0 && (b[end] & 0xc0) === 0x80) end--;
  return utf8Loose.decode(b.subarray(0, end));
}

/** A V2 ERROR whose message always fits. */
export function v2ErrorPacket(reqid: number, cbid: number, tlserrno: number, message: string): V2Packet {
  return { reqid, cbid, cmd: V2Cmd.ERROR, error: { tlserrno, message: fit(message, 128) } };
}
