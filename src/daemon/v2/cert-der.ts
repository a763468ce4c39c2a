/**
 * Just enough DER reading for INFO: the subject and issuer Names of an X.509
 * certificate, whole (header included), and the entries of its
 * subjectAltName, each a GeneralName as it is encoded (tag, length, value).
 */

interface Tlv {
  readonly tag: number;
  /** Where the element starts (its tag byte). */
  readonly start: number;
  /** Where its value starts. */
  readonly body: number;
  /** One past its last byte. */
  readonly end: number;
}

class BadDer extends Error {}

function readTlv(der: Buffer, at: number, limit: number): Tlv {
  if (at + 2 > limit) throw new BadDer('truncated DER');
  const tag = der[at]!;
  if ((tag & 0x1f) === 0x1f) throw new BadDer('multi-byte DER tag');
  let len = der[at + 1]!;
  let body = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || body + n > limit) throw new BadDer('bad DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[body + i]!;
    body += n;
  }
  if (body + len > limit) throw new BadDer('DER element overruns its container');
  return { tag, start: at, body, end: body + len };
}

function children(der: Buffer, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let at = parent.body; at < parent.end; ) {
    const t = readTlv(der, at, parent.end);
    out.push(t);
    at = t.end;
  }
  return out;
}

/** The fields of tbsCertificate, the optional version skipped. */
function tbsFields(cert: Buffer): Tlv[] {
  const outer = readTlv(cert, 0, cert.length);
  const tbs = children(cert, outer)[0];
  if (!tbs || tbs.tag !== 0x30) throw new BadDer('no tbsCertificate');
  const fields = children(cert, tbs);
  return fields[0]?.tag === 0xa0 ? fields.slice(1) : fields;
}

const SAN_OID = Buffer.from([0x06, 0x03, 0x55, 0x1d, 0x11]);

export interface CertNames {
  readonly subject: Buffer;
  readonly issuer: Buffer;
  /** Each entry of subjectAltName, DER-encoded; empty without the extension. */
  readonly altNames: Buffer[];
}

/** The names of a DER certificate, or undefined when it cannot be read. */
export function certNames(cert: Buffer): CertNames | undefined {
  try {
    // serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo, then optional parts
    const f = tbsFields(cert);
    if (f.length < 6 || f[2]!.tag !== 0x30 || f[4]!.tag !== 0x30) return undefined;
    const slice = (t: Tlv) => Buffer.from(cert.subarray(t.start, t.end));
    const altNames: Buffer[] = [];
    const ext = f.find((t) => t.tag === 0xa3);
    const list = ext ? children(cert, ext)[0] : undefined;
    for (const e of list ? children(cert, list) : []) {
      const parts = children(cert, e);
      if (!parts[0] || !cert.subarray(parts[0].start, parts[0].end).equals(SAN_OID)) continue;
      const value = parts[parts.length - 1]!;
      const names = readTlv(cert, value.body, value.end);
      for (const n of children(cert, names)) altNames.push(slice(n));
    }
    return { subject: slice(f[4]!), issuer: slice(f[2]!), altNames };
  } catch (e) {
    if (e instanceof BadDer) return undefined;
    throw e;
  }
}
