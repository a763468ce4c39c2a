/** The settings a running daemon lets the control API change. */

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
