/**
 * What a PIN must be to travel in PINENTRY: the `pin` field of struct
 * pioc_pinentry (layout.ts) holds it as a C string, so it has at most the
 * field's size less one bytes, and no NUL. Every place a PIN is typed or
 * read (the renderer, the agent, `tlspool pinentry`) checks it with these
 * before it is sent, and says what is wrong. Pure: runs in the browser too.
 */
import { field } from './layout';

/** The most bytes a PIN has: the pin field less its terminating NUL. */
export const PIN_MAX_BYTES = field('pioc_pinentry', 'pin').size - 1;

export const PIN_TOO_LONG = `a PIN has at most ${PIN_MAX_BYTES} bytes`;
export const PIN_HAS_NUL = 'a PIN cannot contain a NUL byte';

/** Why these bytes cannot be sent as a PIN, or undefined when they can. */
export function pinProblem(pin: Uint8Array): string | undefined {
  if (pin.byteLength > PIN_MAX_BYTES) return PIN_TOO_LONG;
  if (pin.indexOf(0) >= 0) return PIN_HAS_NUL;
  return undefined;
}

/**
 * A zeroed array for PIN bytes, in an ArrayBuffer of its own. V8 keeps a
 * typed array made as `new Uint8Array(n)` with n of 64 or less inside its
 * garbage-collected heap, which moves it and leaves the old copy behind,
 * out of reach of fill(0); an ArrayBuffer's memory is outside that heap and
 * stays where it is until it is freed.
 */
export function pinBytes(length: number): Uint8Array {
  return new Uint8Array(new ArrayBuffer(length));
}

/** A copy of PIN bytes, in an array from pinBytes. */
export function copyPin(pin: Uint8Array): Uint8Array {
  const out = pinBytes(pin.byteLength);
  out.set(pin);
  return out;
}

/**
 * The bytes of the UTF-8 encoding of a text, without making that encoding
 * (the text is a PIN: no second copy of it). A lone surrogate counts as the
 * 3 bytes of the U+FFFD that TextEncoder puts for it.
 */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/** pinProblem for a PIN as text, as it would be once encoded in UTF-8. */
export function pinTextProblem(pin: string): string | undefined {
  if (utf8Length(pin) > PIN_MAX_BYTES) return PIN_TOO_LONG;
  if (pin.includes('\u0000')) return PIN_HAS_NUL;
  return undefined;
}
