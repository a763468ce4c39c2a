/**
 * UiEvents → the state the screens draw. Everything but the connection log
 * is small and replaced whole; the log is a ConnectionTable updated in place
 * (see there), and `connectionsVersion` tells React it changed.
 */
import type { DisclosureRule, ApprovalRequest } from '../../../src/model/disclosure';
import type { IdentityInfo, TrustAnchorInfo } from '../../../src/model/identity';
import type { Settings } from '../../../src/model/settings';
import type { TokenInfo } from '../../../src/model/tokens';
import type { DaemonView, Notice, PinPromptView, UiEvent } from '../../../src/contract/desktop';
import { ConnectionTable } from './connection-table';

export interface ViewState {
  /** False until the first snapshot arrived. */
  readonly loaded: boolean;
  readonly daemon: DaemonView | null;
  readonly pinPrompts: readonly PinPromptView[];
  readonly approvals: readonly ApprovalRequest[];
  readonly identities: readonly IdentityInfo[];
  readonly trust: readonly TrustAnchorInfo[];
  readonly tokens: readonly TokenInfo[];
  readonly rules: readonly DisclosureRule[];
  readonly settings: Settings | null;
  readonly lastNotice: Notice | null;
  readonly connections: ConnectionTable;
  readonly connectionsVersion: number;
}

export function initialState(): ViewState {
  return {
    loaded: false,
    daemon: null,
    pinPrompts: [],
    approvals: [],
    identities: [],
    trust: [],
    tokens: [],
    rules: [],
    settings: null,
    lastNotice: null,
    connections: new ConnectionTable(),
    connectionsVersion: 0,
  };
}

/** Apply a batch in order. Returns `state` itself when nothing changed. */
export function reduce(state: ViewState, events: readonly UiEvent[]): ViewState {
  if (events.length === 0) return state;
  const next: { -readonly [K in keyof ViewState]: ViewState[K] } = { ...state };
  for (const e of events) {
    switch (e.type) {
      case 'snapshot': {
        const s = e.state;
        next.loaded = true;
        next.daemon = s.daemon;
        next.pinPrompts = s.pinPrompts;
        next.approvals = s.approvals;
        next.identities = s.identities;
        next.trust = s.trust ?? [];
        next.tokens = s.tokens;
        next.rules = s.rules;
        next.settings = s.settings;
        next.lastNotice = s.lastNotice ?? next.lastNotice;
        next.connections.replace(s.connections);
        break;
      }
      case 'daemon':
        next.daemon = e.daemon;
        break;
      case 'pin-prompts':
        next.pinPrompts = e.pinPrompts;
        break;
      case 'approvals':
        next.approvals = e.approvals;
        break;
      case 'connection':
        next.connections.upsert(e.connection);
        break;
      case 'identities':
        next.identities = e.identities;
        break;
      case 'trust':
        next.trust = e.trust;
        break;
      case 'tokens':
        next.tokens = e.tokens;
        break;
      case 'rules':
        next.rules = e.rules;
        break;
      case 'settings':
        next.settings = e.settings;
        break;
      case 'notice':
        next.lastNotice = e.notice;
        break;
    }
  }
  next.connectionsVersion = next.connections.version;
  return next;
}
