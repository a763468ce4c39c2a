/**
 * PEM text: making it from DER, cutting a bundle into certificates, and
 * telling what a file holds. The one place that knows the armour.
 */

/** PEM text: base64 in lines of 64 (a peer's chain is made PEM on every STARTTLS). */
export function pem(label: string, der: Buffer): string {
  const b64 = der.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** The DER inside one PEM block (its armour and whitespace dropped). */
export function derOf(pemText: string): Buffer {
  return Buffer.from(pemText.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
}

/** Split a PEM bundle into its certificates, each with a trailing newline. */
export function splitPemChain(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)?.map((c) => c + '\n') ?? [];
}

/** Whether the text holds a PEM block with this label (`CERTIFICATE`, `X509 CRL`, …). */
export function hasPem(text: string, label: string): boolean {
  return text.includes(`-----BEGIN ${label}-----`);
}

/** Whether the text holds any PEM block at all. */
export function hasAnyPem(text: string): boolean {
  return text.includes('-----BEGIN ');
}
