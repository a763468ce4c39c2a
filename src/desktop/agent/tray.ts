/**
 * The tray as data: its icon state and its menu, both functions of the
 * UiState alone, so the Electron shell only draws them and a unit test can
 * read them.
 */
import type { TrayMenuItem, TrayState, UiState } from '../../contract/desktop';

/** Live connections: the ones not yet closed or failed. */
export function liveConnections(state: UiState): number {
  return state.daemon.status?.connections.live ?? state.connections.filter((c) => c.state === 'handshaking' || c.state === 'established').length;
}

/** From urgent to calm: the daemon is down, a person must answer, TLS is in use, nothing. */
export function trayState(state: UiState): TrayState {
  if (!state.daemon.up) return 'down';
  if (state.pinPrompts.length > 0 || state.approvals.length > 0) return 'prompt';
  if (liveConnections(state) > 0) return 'active';
  return 'idle';
}

function statusLine(state: UiState): string {
  if (!state.daemon.up) return 'TLS Pool: not running';
  const waiting = state.pinPrompts.length + state.approvals.length;
  if (waiting > 0) return `TLS Pool: ${waiting} question${waiting === 1 ? '' : 's'} waiting`;
  return `TLS Pool: running${state.daemon.mode === 'hosted' ? ' (in this app)' : ''}`;
}

/** The tooltip: the status line and the live connection count. */
export function trayTooltip(state: UiState): string {
  const live = liveConnections(state);
  return state.daemon.up ? `${statusLine(state)}, ${live} connection${live === 1 ? '' : 's'}` : statusLine(state);
}

export function trayMenu(state: UiState): TrayMenuItem[] {
  const up = state.daemon.up;
  const live = liveConnections(state);
  const items: TrayMenuItem[] = [
    { kind: 'label', label: statusLine(state) },
    { kind: 'label', label: up ? `${live} live connection${live === 1 ? '' : 's'}` : state.daemon.message },
    { kind: 'separator' },
  ];
  if (state.identities.length > 0) {
    items.push({ kind: 'label', label: 'Default identity' });
    for (const id of state.identities) {
      items.push({ kind: 'radio', label: id.localid, checked: id.isDefault, action: { type: 'set-default-identity', localid: id.localid } });
    }
    items.push({ kind: 'separator' });
  }
  items.push(
    { kind: 'action', label: 'Lock all tokens', enabled: up, action: { type: 'lock-all' } },
    { kind: 'action', label: 'Open TLS Pool', enabled: true, action: { type: 'open' } },
    { kind: 'separator' },
    { kind: 'action', label: 'Quit', enabled: true, action: { type: 'quit' } },
  );
  return items;
}
