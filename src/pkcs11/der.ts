/**
 * Just enough DER (X.690) to write an X.509 certificate and a PKCS #10
 * request for a key that lives on a token: the structures are built here
 * and only the signature comes from the token.
 */
export type Der = Buffer;

function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export function tlv(tag: number, body: Buffer): Der {
  return Buffer.concat([Buffer.from([tag]), len(body.length), body]);
}

export const seq = (...items: Der[]): Der => tlv(0x30, Buffer.concat(items));
export const set = (...items: Der[]): Der => tlv(0x31, Buffer.concat(items));
/** [n] EXPLICIT */
export const explicit = (n: number, inner: Der): Der => tlv(0xa0 | n, inner);
export const nul = (): Der => Buffer.from([0x05, 0x00]);
export const utf8 = (s: string): Der => tlv(0x0c, Buffer.from(s, 'utf8'));
export const octets = (b: Buffer): Der => tlv(0x04, b);
export const bitString = (b: Buffer): Der => tlv(0x03, Buffer.concat([Buffer.from([0]), b]));
export const bool = (v: boolean): Der => Buffer.from([0x01, 0x01, v ? 0xff : 0x00]);

/** A non-negative INTEGER from big-endian bytes (leading zeros trimmed, a zero added before a high bit). */
export function uint(bytes: Buffer): Der {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  let b = bytes.subarray(i);
  if (b[0]! & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  return tlv(0x02, b);
}
export const int = (n: number): Der => uint(Buffer.from([n]));

export function oid(dotted: string): Der {
  const parts = dotted.split('.').map(Number);
  const out: number[] = [40 * parts[0]! + parts[1]!];
  for (const p of parts.slice(2)) {
    const stack: number[] = [];
    let v = p;
    do {
      stack.unshift(v & 0x7f);
      v = Math.floor(v / 128);
    } while (v > 0);
    for (let i = 0; i < stack.length - 1; i++) stack[i]! |= 0x80;
    out.push(...stack);
  }
  return tlv(0x06, Buffer.from(out));
}

/** UTCTime up to 2049, GeneralizedTime after (RFC 5280 4.1.2.5). */
export function time(d: Date): Der {
  const iso = d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';
  return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(iso.slice(2))) : tlv(0x18, Buffer.from(iso));
}

/** [n] IMPLICIT IA5String, as in GeneralName (1 rfc822Name, 2 dNSName). */
export const implicitString = (n: number, s: string): Der => tlv(0x80 | n, Buffer.from(s, 'ascii'));

