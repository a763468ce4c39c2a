/**
 * A token as the PIN broker knows it: the fields of the PKCS #11 URI GnuTLS
 * gives for it (RFC 7512: token, manufacturer, model, serial), which are the
 * PKCS #11 token-info fields with trailing spaces removed.
 */
export interface TokenRef {
  /** The token URI as GnuTLS gave it; what pkcs11Logout takes. */
  readonly url: string;
  readonly label: string;
  readonly manufacturer: string;
  readonly model: string;
  readonly serial: string;
  /** One string per token, for maps. */
  readonly key: string;
}

function attr(url: string, name: string): string {
  const body = url.replace(/^pkcs11:/i, '').split('?')[0]!;
  for (const part of body.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq) === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1));
      } catch {
        return part.slice(eq + 1);
      }
    }
  }
  return '';
}

export function tokenRef(url: string, label?: string): TokenRef {
  const t = {
    url,
    label: (label || attr(url, 'token')).trimEnd(),
    manufacturer: attr(url, 'manufacturer').trimEnd(),
    model: attr(url, 'model').trimEnd(),
    serial: attr(url, 'serial').trimEnd(),
  };
  return { ...t, key: [t.manufacturer, t.model, t.serial, t.label].join('\u0000') };
}

/** Whether a key URI (pkcs11:token=…;object=…) names an object on this token. */
export function uriOnToken(uri: string, token: TokenRef): boolean {
  const checks: Array<[string, string]> = [
    ['token', token.label],
    ['manufacturer', token.manufacturer],
    ['model', token.model],
    ['serial', token.serial],
  ];
  let any = false;
  for (const [name, value] of checks) {
    const v = attr(uri, name);
    if (!v) continue;
    any = true;
    if (v.trimEnd() !== value) return false;
  }
  return any;
}
