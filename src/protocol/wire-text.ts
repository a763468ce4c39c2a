/**
 * Text that goes into a fixed-size string field of the wire, above all the
 * ERROR message (127 bytes and a NUL). A message says its cause and what to
 * do; what does not fit is the names it mentions, so `wire` shortens those
 * and never the sentence around them. The full names belong in the log and
 * the connection record.
 */
import { field } from './layout';

/** Bytes an ERROR message may have (the field less its NUL). */
export const MESSAGE_BYTES = field('pioc_error', 'message').size - 1;
/** Bytes of a PINENTRY prompt (the field less its NUL). */
export const PROMPT_BYTES = field('pioc_pinentry', 'prompt').size - 1;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: false });

export function byteLength(text: string): number {
  return encoder.encode(text).byteLength;
}

/** `text` cut to at most `max` bytes at a character boundary, with "…" when cut. */
export function cutText(text: string, max: number): string {
  const bytes = encoder.encode(text);
  if (bytes.byteLength <= max) return text;
  const ellipsis = max >= 3 ? '…' : '';
  let end = max - encoder.encode(ellipsis).byteLength;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return decoder.decode(bytes.subarray(0, end)) + ellipsis;
}

/**
 * A tagged template for ERROR messages: the literal text is kept whole, and
 * when the whole would be over MESSAGE_BYTES the interpolated values share
 * what is left, each cut with "…". (A literal text that is itself too long
 * is a bug that the message tests catch.)
 */
export const wire = wireFor(MESSAGE_BYTES);

/** The `wire` tag for text that will have `max` bytes (an ERROR message that gets a prefix). */
export function wireFor(max: number): (strings: TemplateStringsArray, ...values: unknown[]) => string {
  return (strings, ...values) => fit(max, strings, values);
}

function fit(max: number, strings: TemplateStringsArray, values: unknown[]): string {
  const parts = values.map((v) => String(v));
  const whole = strings.reduce((acc, s, i) => acc + s + (i < parts.length ? parts[i] : ''), '');
  if (byteLength(whole) <= max || parts.length === 0) return whole;
  let budget = max - strings.reduce((n, s) => n + byteLength(s), 0);
  // Short values keep their full length; the longer ones share the rest.
  const order = parts.map((p, i) => [byteLength(p), i] as const).sort((a, b) => a[0] - b[0]);
  const fitted = parts.slice();
  order.forEach(([len, i], k) => {
    const share = Math.max(0, Math.floor(budget / (order.length - k)));
    fitted[i] = len <= share ? parts[i]! : cutText(parts[i]!, share);
    budget -= byteLength(fitted[i]!);
  });
  return strings.reduce((acc, s, i) => acc + s + (i < fitted.length ? fitted[i] : ''), '');
}
