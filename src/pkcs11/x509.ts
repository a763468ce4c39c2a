/**
 * A self-signed certificate or a certificate request (PKCS #10) for a P-256
 * key whose private half stays on a token: the to-be-signed bytes are built
 * here, `sign` (the token) signs their SHA-256 hash.
 */
import * as crypto from 'node:crypto';
import { pem } from '../util/pem';
import { bitString, explicit, int, octets, oid, seq, set, time, uint, utf8, implicitString } from './der';

const OID = {
  ecPublicKey: '1.2.840.10045.2.1',
  prime256v1: '1.2.840.10045.3.1.7',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  subjectAltName: '2.5.29.17',
  extKeyUsage: '2.5.29.37',
  subjectKeyIdentifier: '2.5.29.14',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  extensionRequest: '1.2.840.113549.1.9.14',
};

/** Signs a SHA-256 digest; returns the raw r || s (64 bytes), as CKM_ECDSA gives it. */
export type RawSigner = (digest: Buffer) => Buffer;

/** The subject (and issuer) Name: CN=<identity>, DER. */
export function name(cn: string): Buffer {
  return seq(set(seq(oid(OID.commonName), utf8(cn))));
}

function spki(ecPoint: Buffer) {
  return seq(seq(oid(OID.ecPublicKey), oid(OID.prime256v1)), bitString(ecPoint));
}

/** The identity as a subjectAltName: rfc822Name for user@domain, dNSName for a domain. */
function extensions(identity: string, ecPoint: Buffer) {
  const general = identity.includes('@') ? implicitString(1, identity) : implicitString(2, identity);
  return seq(
    seq(oid(OID.subjectAltName), octets(seq(general))),
    seq(oid(OID.extKeyUsage), octets(seq(oid(OID.serverAuth), oid(OID.clientAuth)))),
    seq(oid(OID.subjectKeyIdentifier), octets(octets(crypto.createHash('sha1').update(ecPoint).digest()))),
  );
}

function ecdsaSignature(raw: Buffer): Buffer {
  const half = raw.length / 2;
  return seq(uint(raw.subarray(0, half)), uint(raw.subarray(half)));
}

function signed(tbs: Buffer, sign: RawSigner): Buffer {
  const sig = ecdsaSignature(sign(crypto.createHash('sha256').update(tbs).digest()));
  return seq(tbs, seq(oid(OID.ecdsaWithSha256)), bitString(sig));
}

/** The uncompressed point from CKA_EC_POINT (a DER OCTET STRING, or the bare point). */
export function ecPointFromAttribute(value: Buffer): Buffer {
  if (value[0] === 0x04 && value.length === 65) return value;
  if (value[0] === 0x04 && value[1] === 65) return value.subarray(2);
  throw new Error('CKA_EC_POINT is not an uncompressed P-256 point');
}

export function selfSignedCertificate(identity: string, ecPoint: Buffer, days: number, sign: RawSigner): string {
  const now = new Date();
  const notBefore = new Date(now.getTime() - 60_000);
  const notAfter = new Date(now.getTime() + days * 86_400_000);
  const serial = crypto.randomBytes(16);
  serial[0]! &= 0x7f;
  const tbs = seq(
    explicit(0, int(2)),
    uint(serial),
    seq(oid(OID.ecdsaWithSha256)),
    name(identity),
    seq(time(notBefore), time(notAfter)),
    name(identity),
    spki(ecPoint),
    explicit(3, extensions(identity, ecPoint)),
  );
  return pem('CERTIFICATE', signed(tbs, sign));
}

export function certificateRequest(identity: string, ecPoint: Buffer, sign: RawSigner): string {
  const attrs = explicit(0, seq(oid(OID.extensionRequest), set(extensions(identity, ecPoint))));
  // attributes [0] IMPLICIT SET OF Attribute: one extensionRequest.
  const info = seq(int(0), name(identity), spki(ecPoint), attrs);
  return pem('CERTIFICATE REQUEST', signed(info, sign));
}
