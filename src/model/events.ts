/** What happens in the pool, as the event bus, the control socket and the UI pass it on. */

import type { ConnectionRecord } from './connection';
import type { TokenRefView } from './tokens';
import type { ApprovalRequest, Disclosure } from './disclosure';
import type { Settings } from './settings';

/** The live event stream (`events.subscribe`). Never carries a PIN. */
export type PoolEvent =
  | { readonly type: 'connection-opened' | 'connection-established' | 'connection-closed'; readonly connection: ConnectionRecord }
  | {
      readonly type: 'pin-requested';
      readonly token: TokenRefView;
      readonly attempt: number;
      readonly requester?: { readonly pid: number; readonly executable?: string; readonly command?: readonly string[] };
      readonly peer?: string;
    }
  | {
      readonly type: 'pin-answered';
      readonly token: TokenRefView;
      readonly attempt: number;
      readonly outcome: 'pin' | 'cancel' | 'timeout' | 'gone';
    }
  /** A handshake that needed the token is established: the PIN a program gave at `attempt` was right. */
  | { readonly type: 'pin-accepted'; readonly token: TokenRefView; readonly attempt: number }
  | { readonly type: 'approval-asked'; readonly approval: ApprovalRequest }
  | {
      readonly type: 'approval-decided';
      readonly id: string;
      readonly connectionId: number;
      readonly decision: Disclosure;
      /** agent: a person chose; timeout: nobody answered; withdrawn: the handshake or its requester went away. */
      readonly by: 'agent' | 'timeout' | 'withdrawn';
      readonly localid?: string;
    }
  | { readonly type: 'pinentry-registered'; readonly pid: number; readonly executable?: string; readonly shared: boolean }
  | { readonly type: 'pinentry-left'; readonly pid: number }
  | { readonly type: 'approval-agent-registered'; readonly pid: number; readonly executable?: string }
  | { readonly type: 'approval-agent-left'; readonly pid: number }
  | { readonly type: 'tokens-locked'; readonly count: number }
  /**
   * The identities, the trust anchors or the remembered disclosure rules
   * changed: through the control socket, or in the state database by another
   * process (the CLI), which the daemon notices within a second.
   */
  | { readonly type: 'identities-changed' }
  | { readonly type: 'trust-changed' }
  | { readonly type: 'rules-changed' }
  | { readonly type: 'settings-changed'; readonly settings: Settings }
  | { readonly type: 'config-reloaded'; readonly configFile: string | null };
