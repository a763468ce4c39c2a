/**
 * The desktop agent's UiState and the UiEvents that tell subscribers how it
 * changed. Every change goes through one method here, so the state a UI
 * fetched with getState plus the events after it always equals the state
 * the agent holds. Pure: no sockets, no timers.
 */
import { type ConnectionRecord, rowPosition } from '../../model/connection';
import type { ApprovalRequest, DisclosureRule } from '../../model/disclosure';
import type { IdentityInfo, TrustAnchorInfo } from '../../model/identity';
import type { Settings } from '../../model/settings';
import type { TokenInfo } from '../../model/tokens';
import type { DaemonView, Notice, PinPromptView, UiEvent, UiState } from '../../contract/desktop';

export type UiListener = (event: UiEvent) => void;

export function initialState(mode: DaemonView['mode'], message = 'connecting to the TLS pool'): UiState {
  return {
    daemon: { up: false, mode, message },
    pinPrompts: [],
    approvals: [],
    connections: [],
    identities: [],
    trust: [],
    tokens: [],
    rules: [],
    settings: null,
    lastNotice: null,
  };
}

export class UiStore {
  private current: UiState;
  private readonly listeners = new Set<UiListener>();

  constructor(
    mode: DaemonView['mode'],
    /** How many connection rows the state keeps (most recent first). */
    private readonly connectionLimit: number,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.current = initialState(mode);
  }

  get state(): UiState {
    return this.current;
  }

  /** Returns the unsubscribe function. A listener that throws does not stop the others. */
  subscribe(listener: UiListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  setDaemon(daemon: Partial<DaemonView>): void {
    const next: DaemonView = { ...this.current.daemon, ...daemon };
    if (!next.up) delete (next as { status?: unknown }).status;
    this.current = { ...this.current, daemon: next };
    this.emit({ type: 'daemon', daemon: next });
  }

  addPinPrompt(prompt: PinPromptView): void {
    this.current = { ...this.current, pinPrompts: [...this.current.pinPrompts, prompt] };
    this.emit({ type: 'pin-prompts', pinPrompts: this.current.pinPrompts });
  }

  removePinPrompt(id: string): void {
    if (!this.current.pinPrompts.some((p) => p.id === id)) return;
    this.current = { ...this.current, pinPrompts: this.current.pinPrompts.filter((p) => p.id !== id) };
    this.emit({ type: 'pin-prompts', pinPrompts: this.current.pinPrompts });
  }

  addApproval(approval: ApprovalRequest): void {
    const others = this.current.approvals.filter((a) => a.id !== approval.id);
    this.setApprovals([...others, approval]);
  }

  removeApproval(id: string): void {
    if (this.current.approvals.some((a) => a.id === id)) this.setApprovals(this.current.approvals.filter((a) => a.id !== id));
  }

  setApprovals(approvals: ApprovalRequest[]): void {
    this.current = { ...this.current, approvals };
    this.emit({ type: 'approvals', approvals });
  }

  /** Adds the row, or replaces the one with its id; keeps the most recent `connectionLimit`. */
  upsertConnection(connection: ConnectionRecord): void {
    const rows = this.current.connections;
    const lo = rowPosition(rows, connection.id, 'descending');
    const next = rows.slice();
    if (rows[lo]?.id === connection.id) next[lo] = connection;
    else next.splice(lo, 0, connection);
    if (next.length > this.connectionLimit) next.length = this.connectionLimit;
    this.current = { ...this.current, connections: next };
    this.emit({ type: 'connection', connection });
  }

  /**
   * Replace what a (re)connection fetched in one go, and send one snapshot:
   * a UI that was showing stale rows gets the whole picture without reloading.
   */
  load(parts: Partial<Pick<UiState, 'connections' | 'identities' | 'trust' | 'tokens' | 'rules' | 'settings' | 'approvals'>>): void {
    const connections = parts.connections ? parts.connections.slice(0, this.connectionLimit) : this.current.connections;
    this.current = { ...this.current, ...parts, connections };
    this.emit({ type: 'snapshot', state: this.current });
  }

  setIdentities(identities: IdentityInfo[]): void {
    this.current = { ...this.current, identities };
    this.emit({ type: 'identities', identities });
  }

  setTrust(trust: TrustAnchorInfo[]): void {
    this.current = { ...this.current, trust };
    this.emit({ type: 'trust', trust });
  }

  setTokens(tokens: TokenInfo[]): void {
    this.current = { ...this.current, tokens };
    this.emit({ type: 'tokens', tokens });
  }

  setRules(rules: DisclosureRule[]): void {
    this.current = { ...this.current, rules };
    this.emit({ type: 'rules', rules });
  }

  setSettings(settings: Settings): void {
    this.current = { ...this.current, settings };
    this.emit({ type: 'settings', settings });
  }

  notice(level: Notice['level'], text: string, topic?: string): Notice {
    const notice: Notice = { at: this.now().toISOString(), level, text, ...(topic ? { topic } : {}) };
    this.current = { ...this.current, lastNotice: notice };
    this.emit({ type: 'notice', notice });
    return notice;
  }

  private emit(event: UiEvent): void {
    for (const l of [...this.listeners]) {
      try {
        l(event);
      } catch {
        // A broken subscriber (a closed WebSocket, a destroyed window) must not stop the agent.
      }
    }
  }
}
