/** What is on a token: certificates and keys, with the attributes a person needs to pick one. */
import { readCertificate } from '../util/certificate';
import * as pkcs11js from 'pkcs11js';
import type { TokenSlot } from './modules';

export interface TokenObject {
  readonly kind: 'certificate' | 'private key' | 'public key';
  readonly label: string;
  /** CKA_ID, hex. */
  readonly id: string;
  /** Certificates: the subject; keys: the key type. */
  readonly detail: string;
  /** Private keys: CKA_EXTRACTABLE / CKA_SENSITIVE. */
  readonly extractable?: boolean;
  readonly sensitive?: boolean;
}

const KIND: Array<[number, TokenObject['kind']]> = [
  [pkcs11js.CKO_CERTIFICATE, 'certificate'],
  [pkcs11js.CKO_PRIVATE_KEY, 'private key'],
  [pkcs11js.CKO_PUBLIC_KEY, 'public key'],
];

function attr(t: TokenSlot, session: Buffer, obj: Buffer, type: number): Buffer | undefined {
  try {
    return t.module.p11.C_GetAttributeValue(session, obj, [{ type }])[0]?.value as Buffer | undefined;
  } catch {
    return undefined;
  }
}

export function findObjects(t: TokenSlot, session: Buffer, template: pkcs11js.Template): Buffer[] {
  const p11 = t.module.p11;
  p11.C_FindObjectsInit(session, template);
  try {
    return p11.C_FindObjects(session, 1000);
  } finally {
    p11.C_FindObjectsFinal(session);
  }
}

/** The objects visible in this session (private keys only after a login). */
export function listObjects(t: TokenSlot, session: Buffer): TokenObject[] {
  const out: TokenObject[] = [];
  for (const [cls, kind] of KIND) {
    for (const obj of findObjects(t, session, [{ type: pkcs11js.CKA_CLASS, value: cls }])) {
      const label = attr(t, session, obj, pkcs11js.CKA_LABEL)?.toString('utf8') ?? '';
      const id = attr(t, session, obj, pkcs11js.CKA_ID)?.toString('hex') ?? '';
      let detail = '';
      if (kind === 'certificate') {
        const der = attr(t, session, obj, pkcs11js.CKA_VALUE);
        try {
          detail = der ? readCertificate(der).subject : '';
        } catch {
          detail = '(unreadable certificate)';
        }
      } else {
        const kt = attr(t, session, obj, pkcs11js.CKA_KEY_TYPE)?.readUIntLE(0, Math.min(6, attr(t, session, obj, pkcs11js.CKA_KEY_TYPE)!.length));
        detail = kt === pkcs11js.CKK_EC ? 'EC' : kt === pkcs11js.CKK_RSA ? 'RSA' : `key type ${kt}`;
      }
      const o: TokenObject = { kind, label, id, detail };
      if (kind === 'private key') {
        const ex = attr(t, session, obj, pkcs11js.CKA_EXTRACTABLE);
        const se = attr(t, session, obj, pkcs11js.CKA_SENSITIVE);
        Object.assign(o, { extractable: ex ? ex[0] !== 0 : undefined, sensitive: se ? se[0] !== 0 : undefined });
      }
      out.push(o);
    }
  }
  return out;
}
