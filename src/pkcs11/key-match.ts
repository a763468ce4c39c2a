/**
 * Whether the key a pkcs11: URI names is on its token and belongs to a
 * certificate, as `identity add` checks a key file: before the identity is
 * stored, not at the first handshake. Public objects are asked first (a
 * public key or certificate with the URI's label or id, compared with the
 * certificate's public key), which needs no PIN. When the token shows none,
 * the user logs in and the private key signs a random challenge that the
 * certificate's public key must verify.
 */
import * as crypto from 'node:crypto';
import * as pkcs11js from 'pkcs11js';
import { findObjects } from './inventory';
import { findToken, type Module, type TokenSlot } from './modules';
import { parsePkcs11Uri } from './uri';
import { ecPointFromAttribute } from './x509';

function value(t: TokenSlot, session: Buffer, obj: Buffer, type: number): Buffer | undefined {
  try {
    return t.module.p11.C_GetAttributeValue(session, obj, [{ type }])[0]?.value as Buffer | undefined;
  } catch {
    return undefined;
  }
}

const b64url = (b: Buffer) => b.toString('base64url');
/** An unsigned big-endian integer without leading zeros, as JWK writes it. */
const trim = (b: Buffer) => {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return b.subarray(i);
};

/** Whether a public key object on the token is the certificate's public key. */
function samePublicKey(t: TokenSlot, session: Buffer, obj: Buffer, certKey: crypto.KeyObject): boolean {
  const jwk = certKey.export({ format: 'jwk' });
  const type = value(t, session, obj, pkcs11js.CKA_KEY_TYPE);
  const kt = type ? type.readUIntLE(0, Math.min(6, type.length)) : undefined;
  if (kt === pkcs11js.CKK_EC && jwk.kty === 'EC') {
    const raw = value(t, session, obj, pkcs11js.CKA_EC_POINT);
    if (!raw) return false;
    try {
      return ecPointFromAttribute(raw).equals(Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]));
    } catch {
      return false; // not a P-256 point: not this certificate's key
    }
  }
  if (kt === pkcs11js.CKK_RSA && jwk.kty === 'RSA') {
    const n = value(t, session, obj, pkcs11js.CKA_MODULUS);
    const e = value(t, session, obj, pkcs11js.CKA_PUBLIC_EXPONENT);
    return !!n && !!e && b64url(trim(n)) === jwk.n && b64url(trim(e)) === jwk.e;
  }
  return false;
}

/** Whether the private key signs what the certificate's public key verifies. */
function signsForCertificate(t: TokenSlot, session: Buffer, key: Buffer, certKey: crypto.KeyObject): boolean {
  const p11 = t.module.p11;
  const challenge = crypto.randomBytes(32);
  if (certKey.asymmetricKeyType === 'ec') {
    p11.C_SignInit(session, { mechanism: pkcs11js.CKM_ECDSA }, key);
    const sig = p11.C_Sign(session, crypto.createHash('sha256').update(challenge).digest(), Buffer.alloc(512));
    return crypto.verify('sha256', challenge, { key: certKey, dsaEncoding: 'ieee-p1363' }, sig);
  }
  if (certKey.asymmetricKeyType === 'rsa') {
    p11.C_SignInit(session, { mechanism: pkcs11js.CKM_SHA256_RSA_PKCS }, key);
    const sig = p11.C_Sign(session, challenge, Buffer.alloc(1024));
    return crypto.verify('sha256', challenge, certKey, sig);
  }
  throw new Error(`the certificate's key is ${certKey.asymmetricKeyType}; only EC and RSA keys on tokens are checked`);
}

/**
 * Throws, saying what is wrong, unless `uri` names a private key on a token
 * of `modules` whose public half is the certificate's. `login` is called
 * (to ask the PIN) only when the token shows no public object to compare.
 * Returns how it was checked, for the person.
 */
export async function checkKeyOnToken(
  modules: Module[],
  uri: string,
  certPem: string,
  login: (t: TokenSlot, session: Buffer) => Promise<void>,
): Promise<string> {
  const p = parsePkcs11Uri(uri);
  if (!p.token) throw new Error(`the key URI ${uri} does not name the token (token=LABEL)`);
  if (!p.object && !p.id) throw new Error(`the key URI ${uri} does not name the key (object=NAME or id=%..)`);
  if (p.type && p.type !== 'private') throw new Error(`the key URI ${uri} names a ${p.type} object; a private key is needed (type=private)`);
  const t = findToken(modules, p.token);
  const certKey = new crypto.X509Certificate(certPem).publicKey;
  const named: pkcs11js.Template = [];
  if (p.object) named.push({ type: pkcs11js.CKA_LABEL, value: p.object });
  if (p.id) named.push({ type: pkcs11js.CKA_ID, value: p.id });
  const which = [p.object && `object "${p.object}"`, p.id && `id ${p.id.toString('hex')}`].filter(Boolean).join(', ');
  const session = t.module.p11.C_OpenSession(t.slot, pkcs11js.CKF_SERIAL_SESSION);
  try {
    const publicKeys = findObjects(t, session, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY }, ...named]);
    const certs = findObjects(t, session, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_CERTIFICATE }, ...named]);
    if (publicKeys.length + certs.length > 0) {
      const match =
        publicKeys.some((o) => samePublicKey(t, session, o, certKey)) ||
        certs.some((o) => {
          const der = value(t, session, o, pkcs11js.CKA_VALUE);
          try {
            return !!der && new crypto.X509Certificate(der).publicKey.equals(certKey);
          } catch {
            return false;
          }
        });
      if (!match) throw new Error(`the key ${which} on token "${t.label}" does not belong to the certificate (its public key there is another)`);
      return `checked against the public key of ${which} on token "${t.label}"`;
    }
    // Nothing public to compare: the private key itself shows only after a login.
    await login(t, session);
    const keys = findObjects(t, session, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY }, ...named]);
    if (keys.length === 0) throw new Error(`token "${t.label}" has no private key with ${which}`);
    if (keys.length > 1) throw new Error(`token "${t.label}" has ${keys.length} private keys with ${which}; name one by id`);
    if (!signsForCertificate(t, session, keys[0]!, certKey)) throw new Error(`the key ${which} on token "${t.label}" does not belong to the certificate (its signature does not verify)`);
    return `checked with a signature by ${which} on token "${t.label}"`;
  } finally {
    t.module.p11.C_CloseSession(session);
  }
}
