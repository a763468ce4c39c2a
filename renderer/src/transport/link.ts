/**
 * The renderer's view of its own link to the desktop agent (not the
 * daemon's state, which arrives as UiEvents): the status bar shows it.
 */
import type { DesktopApi } from '../../../src/contract/desktop';

export type Link =
  | { readonly kind: 'up' }
  | { readonly kind: 'connecting' }
  /** The socket dropped; the next try is at `retryAt` (ms since epoch). */
  | { readonly kind: 'down'; readonly reason: string; readonly retryAt: number }
  /** Nothing to connect to (no token): only a new page URL can fix it. */
  | { readonly kind: 'unusable'; readonly reason: string };

export interface Transport {
  readonly api: DesktopApi;
  /** Called now with the current link, then on every change; returns the unsubscribe function. */
  onLink(listener: (link: Link) => void): () => void;
}
