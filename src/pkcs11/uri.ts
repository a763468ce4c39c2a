/** The path attributes of a PKCS #11 URI (RFC 7512) that name a token and an object on it. */
export interface Pkcs11Path {
  token?: string;
  object?: string;
  id?: Buffer;
  type?: string;
}

export function parsePkcs11Uri(uri: string): Pkcs11Path {
  const out: Pkcs11Path = {};
  for (const part of uri.slice('pkcs11:'.length).split('?')[0]!.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const key = part.slice(0, eq);
    const raw = part.slice(eq + 1);
    if (key === 'token') out.token = decodeURIComponent(raw);
    if (key === 'object') out.object = decodeURIComponent(raw);
    if (key === 'id') out.id = Buffer.from(raw.replace(/%([0-9a-fA-F]{2})/g, '$1'), 'hex');
    if (key === 'type') out.type = decodeURIComponent(raw);
  }
  return out;
}
