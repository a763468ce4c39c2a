/**
 * The settings a running daemon lets the control API change: one table
 * that the configuration schema (ranges), the control method (checks), the
 * daemon (where each lives in its configuration), the desktop agent and the
 * Settings page (labels) all read.
 */

import type { Disclosure } from './disclosure';

/** What the Settings page changes in the running daemon (until restart or SIGHUP). */
export interface Settings {
  /** pin.entry_timeout, seconds. */
  readonly pinEntryTimeout: number;
  /** pin.cache_idle_ttl, seconds. */
  readonly pinCacheIdleTtl: number;
  /** pin.cache_max_ttl, seconds. */
  readonly pinCacheMaxTtl: number;
  /** tls.validation_cache_ttl, seconds. */
  readonly validationCacheTtl: number;
  /** disclosure.approval_timeout, seconds. */
  readonly approvalTimeout: number;
  /** disclosure.default: what happens when no rule matches and no agent is registered. */
  readonly defaultDisclosure: Disclosure;
}

export type NumberSettingKey = Exclude<keyof Settings, 'defaultDisclosure'>;

/** A setting in whole seconds: its configuration key, the range both the file and the control API accept, and how the UI names it. */
export interface NumberSetting {
  readonly key: NumberSettingKey;
  /** Section and key in the configuration file. */
  readonly config: readonly [section: 'pin' | 'tls' | 'disclosure', key: string];
  readonly min: number;
  readonly max: number;
  readonly label: string;
  readonly help: string;
}

export const NUMBER_SETTINGS: readonly NumberSetting[] = [
  { key: 'pinEntryTimeout', config: ['pin', 'entry_timeout'], min: 1, max: 4294, label: 'PIN entry timeout', help: 'How long a PIN prompt waits for an answer.' },
  { key: 'pinCacheIdleTtl', config: ['pin', 'cache_idle_ttl'], min: 1, max: 604800, label: 'PIN cache idle time', help: 'An unused token locks after this long.' },
  { key: 'pinCacheMaxTtl', config: ['pin', 'cache_max_ttl'], min: 1, max: 604800, label: 'PIN cache maximum time', help: 'A token locks after this long, used or not.' },
  { key: 'validationCacheTtl', config: ['tls', 'validation_cache_ttl'], min: 0, max: 86400, label: 'Validation cache time', help: 'How long a validated peer certificate stays trusted.' },
  { key: 'approvalTimeout', config: ['disclosure', 'approval_timeout'], min: 1, max: 86400, label: 'Approval timeout', help: 'An unanswered approval is denied after this long.' },
];

/** The choices of `defaultDisclosure` (disclosure.default). */
export const DISCLOSURE_CHOICES: readonly Disclosure[] = ['allow', 'deny'];

/** The range of a setting, for the configuration schema. */
export function settingRange(key: NumberSettingKey): { min: number; max: number } {
  const s = NUMBER_SETTINGS.find((x) => x.key === key)!;
  return { min: s.min, max: s.max };
}
