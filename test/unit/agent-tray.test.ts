/** The tray as the Electron shell draws it: icon state, tooltip and menu from the UiState alone. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { initialState } from '../../src/desktop/agent/state';
import { trayMenu, trayState, trayTooltip } from '../../src/desktop/agent/tray';
import type { ConnectionRecord } from '../../src/model/connection';
import type { IdentityInfo } from '../../src/model/identity';
import type { PinPromptView, TrayMenuItem, UiState } from '../../src/contract/desktop';

function identity(localid: string, isDefault: boolean): IdentityInfo {
  return { localid, isDefault, keyRef: '/k.pem', subject: `CN=${localid}`, issuer: 'CN=CA', notAfter: '2030-01-01T00:00:00Z', addedAt: '2026-01-01T00:00:00Z' };
}

function connection(id: number, state: ConnectionRecord['state']): ConnectionRecord {
  return {
    id,
    role: 'client',
    transport: 'tls',
    requester: { pid: 1, uid: 0, gid: 0 },
    state,
    localid: '',
    remoteid: 'peer.example',
    peerChain: [],
    startedAt: '2026-01-01T00:00:00Z',
    bytesIn: 0,
    bytesOut: 0,
  };
}

const prompt: PinPromptView = { id: 'p1', tokenLabel: 'work', manufacturer: 'm', model: 'x', serial: '1', prompt: 'PIN for token "work"', attempt: 1, expiresAt: '2030-01-01T00:00:00Z' };

function up(extra: Partial<UiState> = {}): UiState {
  const s = initialState('attached');
  return { ...s, daemon: { up: true, mode: 'attached', message: 'connected' }, ...extra };
}

const labels = (menu: TrayMenuItem[]) => menu.map((i) => (i.kind === 'separator' ? '---' : i.label));

describe('tray state', () => {
  test('a daemon that is down wins over waiting prompts', () => {
    const s = initialState('attached');
    assert.equal(trayState({ ...s, pinPrompts: [prompt] }), 'down');
  });

  test('a waiting PIN prompt makes the tray ask for attention, even with live connections', () => {
    assert.equal(trayState(up({ pinPrompts: [prompt], connections: [connection(1, 'established')] })), 'prompt');
  });

  test('live connections make it active; only closed or failed ones leave it idle', () => {
    assert.equal(trayState(up({ connections: [connection(2, 'established'), connection(1, 'closed')] })), 'active');
    assert.equal(trayState(up({ connections: [connection(2, 'failed'), connection(1, 'closed')] })), 'idle');
  });
});

describe('tray menu', () => {
  test('shows status and connection count, the identities with the default checked, then lock, open and quit', () => {
    const menu = trayMenu(up({ identities: [identity('alice@example.org', false), identity('bob@example.org', true)], connections: [connection(1, 'handshaking')] }));
    assert.deepEqual(labels(menu), [
      'TLS Pool: running',
      '1 live connection',
      '---',
      'Default identity',
      'alice@example.org',
      'bob@example.org',
      '---',
      'Lock all tokens',
      'Open TLS Pool',
      '---',
      'Quit',
    ]);
    const radios = menu.filter((i) => i.kind === 'radio');
    assert.deepEqual(
      radios.map((r) => [r.label, r.checked]),
      [
        ['alice@example.org', false],
        ['bob@example.org', true],
      ],
    );
    assert.deepEqual(radios[0]!.action, { type: 'set-default-identity', localid: 'alice@example.org' });
  });

  test('while the daemon is down the menu says why, and locking is disabled but open and quit are not', () => {
    const s = initialState('hosted', 'cannot reach the TLS pool at /x.sock: ENOENT');
    const menu = trayMenu(s);
    assert.equal(labels(menu)[0], 'TLS Pool: not running');
    assert.equal(labels(menu)[1], 'cannot reach the TLS pool at /x.sock: ENOENT');
    const enabled = Object.fromEntries(menu.flatMap((i) => (i.kind === 'action' ? [[i.label, i.enabled]] : [])));
    assert.deepEqual(enabled, { 'Lock all tokens': false, 'Open TLS Pool': true, Quit: true });
    assert.equal(trayTooltip(s), 'TLS Pool: not running');
  });

  test('waiting questions are counted in the status line and the tooltip', () => {
    const s = up({ pinPrompts: [prompt] });
    assert.equal(labels(trayMenu(s))[0], 'TLS Pool: 1 question waiting');
    assert.equal(trayTooltip(s), 'TLS Pool: 1 question waiting, 0 connections');
  });
});

describe('the agent\'s connection rows', () => {
  test('live rows land in id order (most recent first), an update replaces its row, and the oldest fall off at the limit', async () => {
    const { UiStore } = await import('../../src/desktop/agent/state');
    const store = new UiStore('attached', 3);
    const sent: number[] = [];
    store.subscribe((e) => {
      if (e.type === 'connection') sent.push(e.connection.id);
    });
    for (const id of [2, 5, 1, 4]) store.upsertConnection(connection(id, 'handshaking'));
    assert.deepEqual(store.state.connections.map((c) => c.id), [5, 4, 2]);
    store.upsertConnection(connection(4, 'established'));
    assert.deepEqual(store.state.connections.map((c) => `${c.id}:${c.state}`), ['5:handshaking', '4:established', '2:handshaking']);
    assert.deepEqual(sent, [2, 5, 1, 4, 4], 'every change is told to the UI');
  });
});
