/** The control API's runtime-changeable settings, read from and written to the running configuration. */
import type { Config } from '../../config';
import { NUMBER_SETTINGS, type Settings } from '../../model/settings';

/** The runtime-changeable settings, as the control API names them, read where the table says they live. */
export function settingsOf(c: Config): Settings {
  const out: Record<string, unknown> = { defaultDisclosure: c.disclosure.default };
  for (const s of NUMBER_SETTINGS) out[s.key] = section(c, s.config[0])[s.config[1]];
  return out as unknown as Settings;
}

/** Change the running configuration in place: the broker, validator and approval read it from there. */
export function applySettings(c: Config, change: Partial<Settings>): void {
  for (const s of NUMBER_SETTINGS) {
    const v = change[s.key];
    if (v !== undefined) section(c, s.config[0])[s.config[1]] = v;
  }
  if (change.defaultDisclosure !== undefined) c.disclosure.default = change.defaultDisclosure;
}

function section(c: Config, name: 'pin' | 'tls' | 'disclosure'): Record<string, unknown> {
  return c[name] as unknown as Record<string, unknown>;
}
