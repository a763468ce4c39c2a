/** Shared by the token commands: which modules, and a PIN from a descriptor or the terminal. */
import { loadConfig } from '../config';
import { defaultModules } from '../pkcs11/default-modules';
import { PinLineReader, readPinFromTty } from './pin-input';
import { UsageError } from './args';
import { ckrName, ckrSentence } from '../pkcs11/ckr';
import { login, userPinWarning, type TokenSlot } from '../pkcs11/modules';

export const tokenOptions = {
  'pkcs11-module': { type: 'string', multiple: true },
  'pin-fd': { type: 'string' },
} as const;

export const tokenHelp = {
  'pkcs11-module': "PKCS #11 module to use (repeatable; default: pkcs11.modules from the configuration, else p11-kit's proxy)",
  'pin-fd': 'read the token PIN from descriptor N (one line) instead of the terminal',
};

export function modulePaths(values: { 'pkcs11-module'?: string[]; config?: string }): string[] {
  if (values['pkcs11-module']?.length) return values['pkcs11-module'];
  const config = loadConfig({ flags: { config: values.config }, env: process.env });
  return config.pkcs11.modules.length > 0 ? config.pkcs11.modules : defaultModules();
}

/** The user PIN of `label`, as bytes the caller wipes; throws on cancel. `note` is shown before the question. */
export async function askPin(values: { 'pin-fd'?: string }, label: string, note?: string): Promise<Uint8Array> {
  let pin: Uint8Array | null;
  if (values['pin-fd'] !== undefined) {
    const fd = Number(values['pin-fd']);
    if (!Number.isInteger(fd) || fd < 0) throw new UsageError(`--pin-fd must be a descriptor number, got "${values['pin-fd']}"`);
    const reader = new PinLineReader(fd);
    try {
      const line = await reader.next();
      // One line, one try: the pool could not unlock a token with this PIN either.
      if (line !== null && !(line instanceof Uint8Array)) throw new Error(`the PIN from --pin-fd was refused: ${line.refused}; nothing done`);
      pin = line;
    } finally {
      reader.close();
    }
  } else {
    if (!process.stdin.isTTY) throw new Error(`no terminal to ask for the PIN of token "${label}" on (stdin is not a terminal); give it with --pin-fd N`);
    pin = await readPinFromTty(`PIN for token "${label}": `, note);
  }
  if (!pin) throw new Error('no PIN given; nothing done');
  return pin;
}

/**
 * Log in to the token as its user. On the terminal a wrong PIN is asked
 * again, saying so (and "few tries left" or "final try" only when the token
 * says so), and a right one after it is confirmed; from --pin-fd one line
 * is one try. A token that refuses the PIN for good fails with a sentence.
 */
export async function loginWithPin(values: { 'pin-fd'?: string }, t: TokenSlot, session: Buffer): Promise<void> {
  let note: string | undefined;
  for (let attempt = 1; ; attempt++) {
    const pin = await askPin(values, t.label, note);
    try {
      login(t, session, pin);
    } catch (e) {
      if (ckrName(e) !== 'CKR_PIN_INCORRECT' || values['pin-fd'] !== undefined) throw e;
      const warning = userPinWarning(t.module.p11.C_GetTokenInfo(t.slot).flags);
      if (warning === 'locked') throw new Error(ckrSentence('CKR_PIN_LOCKED'));
      note = `Wrong PIN for token "${t.label}".${warning === 'final try' ? ' FINAL TRY before the token locks.' : warning === 'count low' ? ' Few tries left.' : ''}`;
      continue;
    }
    if (attempt > 1) process.stderr.write('PIN accepted\n');
    return;
  }
}
