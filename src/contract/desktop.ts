/**
 * `DesktopApi`: what the UI (renderer) asks of the desktop agent, and the
 * events the agent pushes to it. One contract for both transports — the
 * Electron preload (ipcRenderer.invoke) and the browser path's WebSocket
 * bridge — so a misspelt method or a wrong argument is a compile error on
 * every side. Pure: no Node module, no I/O.
 */
import type { DaemonStatus } from './control';
import type { ConnectionDetails, ConnectionRecord } from '../model/connection';
import type { ApprovalDecision, ApprovalRequest, DisclosureRule } from '../model/disclosure';
import type { IdentityInfo, TrustAnchorInfo } from '../model/identity';
import type { Settings } from '../model/settings';
import type { TokenInfo } from '../model/tokens';

/** A PIN prompt as the "Enter PIN" dialog shows it (from a V1 PINENTRY callback). */
export interface PinPromptView {
  readonly id: string;
  readonly tokenLabel: string;
  readonly manufacturer: string;
  readonly model: string;
  readonly serial: string;
  /** The pool's prompt text (what it is for, who asked). */
  readonly prompt: string;
  /** 1 for the first try; from 2 on the UI warns that the last PIN was wrong. */
  readonly attempt: number;
  /** Unanswered by then, the pool gives up (ETIMEDOUT). ISO time. */
  readonly expiresAt: string;
}

export interface DaemonView {
  readonly up: boolean;
  /** Present while up. */
  readonly status?: DaemonStatus;
  /** How the agent reaches it: 'hosted' (started by this process) or 'attached'. */
  readonly mode: 'hosted' | 'attached';
  /** Why it is down, or what the agent is doing about it. */
  readonly message: string;
}

/**
 * What happened, for the status bar and notifications. A notice is shown
 * for NOTICE_SHOWN_MS of its level after `at`, unless a later one replaces
 * it: the outcome of what it was about (a connection established after one
 * failed, the PIN sent after "attempt 2") takes its place.
 */
export interface Notice {
  readonly at: string;
  readonly level: 'info' | 'warn' | 'error';
  readonly text: string;
  /** What it is about, so that its outcome can replace it: 'connection', 'pin'. */
  readonly topic?: string;
}

/** How long the status bar shows a notice of each level. */
export const NOTICE_SHOWN_MS: Readonly<Record<Notice['level'], number>> = { info: 10_000, warn: 30_000, error: 60_000 };

/** Whether `notice` is still to be shown at `now` (ms since the epoch). */
export function noticeShown(notice: Notice, now: number): boolean {
  const at = Date.parse(notice.at);
  return Number.isNaN(at) || now < at + NOTICE_SHOWN_MS[notice.level];
}

export interface UiState {
  readonly daemon: DaemonView;
  readonly pinPrompts: PinPromptView[];
  readonly approvals: ApprovalRequest[];
  /** Most recent first. */
  readonly connections: ConnectionRecord[];
  readonly identities: IdentityInfo[];
  readonly trust: TrustAnchorInfo[];
  readonly tokens: TokenInfo[];
  readonly rules: DisclosureRule[];
  readonly settings: Settings | null;
  readonly lastNotice: Notice | null;
}

/** Pushed by the agent. `connection` adds or replaces the row with that id. */
export type UiEvent =
  | { readonly type: 'snapshot'; readonly state: UiState }
  | { readonly type: 'daemon'; readonly daemon: DaemonView }
  | { readonly type: 'pin-prompts'; readonly pinPrompts: PinPromptView[] }
  | { readonly type: 'approvals'; readonly approvals: ApprovalRequest[] }
  | { readonly type: 'connection'; readonly connection: ConnectionRecord }
  | { readonly type: 'identities'; readonly identities: IdentityInfo[] }
  | { readonly type: 'trust'; readonly trust: TrustAnchorInfo[] }
  | { readonly type: 'tokens'; readonly tokens: TokenInfo[] }
  | { readonly type: 'rules'; readonly rules: DisclosureRule[] }
  | { readonly type: 'settings'; readonly settings: Settings }
  | { readonly type: 'notice'; readonly notice: Notice };

type NoParams = Record<string, never>;
type Done = { readonly ok: true };

export interface DesktopMethods {
  getState: { params: NoParams; result: UiState };
  /** Older rows than the snapshot holds, most recent first. */
  connections: { params: { beforeId?: number; limit: number }; result: ConnectionRecord[] };
  connectionDetails: { params: { id: number }; result: ConnectionDetails };
  /** The PIN as typed; the agent turns it into bytes, sends it and wipes them. */
  answerPin: { params: { id: string; pin: string }; result: Done };
  cancelPin: { params: { id: string }; result: Done };
  decideApproval: { params: ApprovalDecision; result: Done };
  setDefaultIdentity: { params: { localid: string }; result: Done };
  removeIdentity: { params: { localid: string }; result: Done };
  lockTokens: { params: { label?: string }; result: { locked: number } };
  revokeRule: { params: { id: number }; result: Done };
  updateSettings: { params: Partial<Settings>; result: Settings };
}

export type DesktopMethod = keyof DesktopMethods;

/** The API object the renderer holds, whatever the transport. */
export type DesktopApi = {
  readonly [M in DesktopMethod]: (params: DesktopMethods[M]['params']) => Promise<DesktopMethods[M]['result']>;
} & {
  /** Every UiEvent, in order; returns the unsubscribe function. */
  onEvent(listener: (event: UiEvent) => void): () => void;
};

/** Every method name, for transports that check what they forward. */
export const DESKTOP_METHODS: readonly DesktopMethod[] = [
  'getState',
  'connections',
  'connectionDetails',
  'answerPin',
  'cancelPin',
  'decideApproval',
  'setDefaultIdentity',
  'removeIdentity',
  'lockTokens',
  'revokeRule',
  'updateSettings',
];

/** Tray icon states, from calm to urgent. */
export type TrayState = 'idle' | 'active' | 'prompt' | 'down';

/** The tray menu as data; the Electron shell turns it into a Menu. */
export type TrayMenuItem =
  | { readonly kind: 'label'; readonly label: string }
  | { readonly kind: 'separator' }
  | { readonly kind: 'radio'; readonly label: string; readonly checked: boolean; readonly action: TrayAction }
  | { readonly kind: 'action'; readonly label: string; readonly enabled: boolean; readonly action: TrayAction };

export type TrayAction =
  | { readonly type: 'set-default-identity'; readonly localid: string }
  | { readonly type: 'lock-all' }
  | { readonly type: 'open' }
  | { readonly type: 'quit' };
