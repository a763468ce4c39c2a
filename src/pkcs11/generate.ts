/**
 * A key pair made on the token (P-256; the private key CKA_SENSITIVE and not
 * CKA_EXTRACTABLE, so it never leaves), with a self-signed certificate
 * stored beside it or a certificate request for a CA.
 */
import * as crypto from 'node:crypto';
import { readCertificate } from '../util/certificate';
import * as pkcs11js from 'pkcs11js';
import { oid } from './der';
import { findObjects } from './inventory';
import type { TokenSlot } from './modules';
import { certificateRequest, ecPointFromAttribute, name, selfSignedCertificate } from './x509';

export interface Generated {
  /** CKA_ID of the key pair (and certificate), hex. */
  readonly id: string;
  readonly label: string;
  /** pkcs11:token=…;object=…;id=…;type=private */
  readonly keyUri: string;
  /** PEM: the self-signed certificate (also stored on the token), or the request. */
  readonly pem: string;
}

function pct(s: string): string {
  return encodeURIComponent(s);
}

export function keyUri(token: string, label: string, idHex: string): string {
  const id = idHex.replace(/../g, '%$&');
  return `pkcs11:token=${pct(token)};object=${pct(label)};id=${id};type=private`;
}

export function generateIdentityKey(
  t: TokenSlot,
  session: Buffer,
  identity: string,
  opts: { label?: string; csr?: boolean; days?: number },
): Generated {
  const p11 = t.module.p11;
  const label = opts.label ?? identity;
  let idBytes: Buffer;
  do idBytes = crypto.randomBytes(8);
  while (findObjects(t, session, [{ type: pkcs11js.CKA_ID, value: idBytes }]).length > 0);
  const common = [
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_LABEL, value: label },
    { type: pkcs11js.CKA_ID, value: idBytes },
  ];
  const { publicKey, privateKey } = p11.C_GenerateKeyPair(
    session,
    { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN },
    [...common, { type: pkcs11js.CKA_EC_PARAMS, value: oid('1.2.840.10045.3.1.7') }, { type: pkcs11js.CKA_VERIFY, value: true }],
    [
      ...common,
      { type: pkcs11js.CKA_PRIVATE, value: true },
      { type: pkcs11js.CKA_SENSITIVE, value: true },
      { type: pkcs11js.CKA_EXTRACTABLE, value: false },
      { type: pkcs11js.CKA_SIGN, value: true },
    ],
  );
  const point = ecPointFromAttribute(p11.C_GetAttributeValue(session, publicKey, [{ type: pkcs11js.CKA_EC_POINT }])[0]!.value as Buffer);
  const sign = (digest: Buffer): Buffer => {
    p11.C_SignInit(session, { mechanism: pkcs11js.CKM_ECDSA }, privateKey);
    return Buffer.from(p11.C_Sign(session, digest, Buffer.alloc(128)));
  };
  let pem: string;
  if (opts.csr) {
    pem = certificateRequest(identity, point, sign);
  } else {
    pem = selfSignedCertificate(identity, point, opts.days ?? 365, sign);
    const cert = readCertificate(pem);
    p11.C_CreateObject(session, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_CERTIFICATE },
      { type: pkcs11js.CKA_CERTIFICATE_TYPE, value: pkcs11js.CKC_X_509 },
      ...common,
      { type: pkcs11js.CKA_PRIVATE, value: false },
      { type: pkcs11js.CKA_SUBJECT, value: name(identity) },
      { type: pkcs11js.CKA_VALUE, value: cert.der },
    ]);
  }
  return { id: idBytes.toString('hex'), label, keyUri: keyUri(t.label, label, idBytes.toString('hex')), pem };
}
