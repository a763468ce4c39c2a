/**
 * PKCS #11 modules through pkcs11js, for the CLI's token commands (the
 * daemon's handshakes use the same tokens through GnuTLS). Which modules:
 * `--pkcs11-module` flags, else `pkcs11.modules` from the configuration, else
 * p11-kit's proxy module, which loads whatever p11-kit is configured with.
 */
import * as pkcs11js from 'pkcs11js';

export interface Module {
  readonly path: string;
  readonly p11: pkcs11js.PKCS11;
  readonly description: string;
  close(): void;
}

export function openModule(path: string): Module {
  const p11 = new pkcs11js.PKCS11();
  p11.load(path);
  p11.C_Initialize();
  const info = p11.C_GetInfo();
  return {
    path,
    p11,
    description: `${info.manufacturerID.trim()} ${info.libraryDescription.trim()}`.trim(),
    close: () => p11.C_Finalize(),
  };
}

export interface TokenSlot {
  readonly module: Module;
  readonly slot: Buffer;
  readonly slotDescription: string;
  readonly token: pkcs11js.TokenInfo;
  readonly label: string;
}

/** Every slot with a token, in every module. */
export function tokenSlots(modules: Module[]): TokenSlot[] {
  const out: TokenSlot[] = [];
  for (const m of modules) {
    for (const slot of m.p11.C_GetSlotList(true)) {
      const token = m.p11.C_GetTokenInfo(slot);
      out.push({ module: m, slot, slotDescription: m.p11.C_GetSlotInfo(slot).slotDescription.trim(), token, label: token.label.trim() });
    }
  }
  return out;
}

/** The one token with this label; throws naming the labels there are. */
export function findToken(modules: Module[], label: string): TokenSlot {
  const all = tokenSlots(modules);
  const hits = all.filter((t) => t.label === label);
  if (hits.length === 1) return hits[0]!;
  if (hits.length > 1) throw new Error(`${hits.length} tokens are labelled "${label}"`);
  throw new Error(`no token labelled "${label}"; there are: ${all.map((t) => `"${t.label}"`).join(', ') || 'none'}`);
}

export const TOKEN_FLAGS: Array<[number, string]> = [
  [pkcs11js.CKF_TOKEN_INITIALIZED, 'initialized'],
  [pkcs11js.CKF_LOGIN_REQUIRED, 'login-required'],
  [pkcs11js.CKF_USER_PIN_INITIALIZED, 'user-pin-initialized'],
  [pkcs11js.CKF_PROTECTED_AUTHENTICATION_PATH, 'protected-authentication-path'],
  [pkcs11js.CKF_WRITE_PROTECTED, 'write-protected'],
  [pkcs11js.CKF_RNG, 'rng'],
];

/** Whether the token was initialised (an empty SoftHSM slot is not: it has no PIN, no keys, nothing to unlock). */
export function tokenInitialized(flags: number): boolean {
  return (flags & pkcs11js.CKF_TOKEN_INITIALIZED) !== 0;
}

/** The user PIN's state from the token flags. */
export function pinState(flags: number): string {
  if (flags & pkcs11js.CKF_USER_PIN_LOCKED) return 'locked (too many wrong PINs)';
  if (flags & pkcs11js.CKF_USER_PIN_FINAL_TRY) return 'final try';
  if (flags & pkcs11js.CKF_USER_PIN_COUNT_LOW) return 'count low';
  if (!(flags & pkcs11js.CKF_USER_PIN_INITIALIZED)) return 'not set';
  return 'ok';
}

/** What the token says of its user PIN's retries, from its flags: only what it says. */
export function userPinWarning(flags: number): 'locked' | 'final try' | 'count low' | undefined {
  if (flags & pkcs11js.CKF_USER_PIN_LOCKED) return 'locked';
  if (flags & pkcs11js.CKF_USER_PIN_FINAL_TRY) return 'final try';
  if (flags & pkcs11js.CKF_USER_PIN_COUNT_LOW) return 'count low';
  return undefined;
}

/** Log in as the user with a PIN given as bytes (wiped here; pkcs11js takes a string, which lives only for the call). */
export function login(t: TokenSlot, session: Buffer, pin: Uint8Array): void {
  const bytes = Buffer.from(pin);
  try {
    t.module.p11.C_Login(session, pkcs11js.CKU_USER, bytes.toString('utf8'));
  } finally {
    bytes.fill(0);
    pin.fill(0);
  }
}
