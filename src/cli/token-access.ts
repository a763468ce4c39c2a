/** Shared by the token commands: which modules, and a PIN from a descriptor or the terminal. */
import { loadConfig } from '../config';
import { defaultModules } from '../pkcs11/default-modules';
import { PinLineReader, readPinFromTty } from './pin-input';
import { UsageError } from './args';

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

/** The user PIN of `label`, as bytes the caller wipes; throws on cancel. */
export async function askPin(values: { 'pin-fd'?: string }, label: string): Promise<Uint8Array> {
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
    pin = await readPinFromTty(`PIN for token "${label}": `);
  }
  if (!pin) throw new Error('no PIN given; nothing done');
  return pin;
}
