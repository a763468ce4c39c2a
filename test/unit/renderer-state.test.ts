/**
 * The renderer's state, without a browser: how UiEvents build the connection
 * log the grid draws (most recent first, one row per id) and the rest of the
 * screens' state. Pure code, so a unit test; the screens themselves are
 * checked in Chromium.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ConnectionRecord } from '../../src/model/connection';
import type { UiEvent, UiState } from '../../src/contract/desktop';
import { ConnectionTable } from '../../renderer/src/state/connection-table';
import { initialState, reduce } from '../../renderer/src/state/reducer';

function row(id: number, state: ConnectionRecord['state'] = 'established'): ConnectionRecord {
  return {
    id,
    role: 'client',
    transport: 'tls',
    requester: { pid: 100 + id, uid: 1000, gid: 1000, executable: '/usr/bin/curl' },
    state,
    localid: 'alice@example.org',
    remoteid: `host${id}.example.net`,
    peerChain: [],
    startedAt: new Date(1_700_000_000_000 + id * 1000).toISOString(),
    bytesIn: 0,
    bytesOut: 0,
  };
}

const ids = (t: ConnectionTable): number[] => Array.from({ length: t.size }, (_, i) => t.at(i).id);

function snapshot(connections: ConnectionRecord[]): UiEvent {
  const state: UiState = {
    daemon: { up: true, mode: 'attached', message: 'running' },
    pinPrompts: [],
    approvals: [],
    connections,
    identities: [],
    trust: [],
    tokens: [],
    rules: [],
    settings: null,
    lastNotice: null,
  };
  return { type: 'snapshot', state };
}

describe('connection log', () => {
  test('a new connection shows on top; an update replaces its row in place', () => {
    const t = new ConnectionTable();
    t.replace([row(3), row(2), row(1)]);
    t.upsert(row(4, 'handshaking'));
    t.upsert(row(2, 'closed'));
    assert.deepEqual(ids(t), [4, 3, 2, 1]);
    assert.equal(t.at(0).state, 'handshaking');
    assert.equal(t.get(2)?.state, 'closed');
    assert.equal(t.at(2).state, 'closed');
  });

  test('an older page merges below, in id order, and lookups still find every row', () => {
    const t = new ConnectionTable();
    t.replace([row(10), row(9)]);
    for (const r of [row(5), row(3), row(4)]) t.upsert(r);
    assert.deepEqual(ids(t), [10, 9, 5, 4, 3]);
    for (const id of [10, 9, 5, 4, 3]) assert.equal(t.get(id)?.id, id);
    assert.equal(t.oldestId(), 3);
  });

  test('a snapshot out of order or with a row twice still shows each id once, most recent first', () => {
    const t = new ConnectionTable();
    // Listed most recent first, so the copy listed first is the newer one.
    t.replace([row(2), row(5, 'closed'), row(1), row(5, 'handshaking')]);
    assert.deepEqual(ids(t), [5, 2, 1]);
    assert.equal(t.get(5)?.state, 'closed');
  });

  test('100,000 rows pushed one at a time end up in order, each found by id', () => {
    const t = new ConnectionTable();
    for (let id = 1; id <= 100_000; id++) t.upsert(row(id));
    assert.equal(t.size, 100_000);
    assert.equal(t.at(0).id, 100_000);
    assert.equal(t.at(99_999).id, 1);
    assert.equal(t.get(31_337)?.remoteid, 'host31337.example.net');
  });

  test('a filter keeps the most recent first order', () => {
    const t = new ConnectionTable();
    t.replace([row(4, 'failed'), row(3), row(2, 'failed'), row(1)]);
    assert.deepEqual(
      t.filter((r) => r.state === 'failed').map((r) => r.id),
      [4, 2],
    );
  });
});

describe('UiEvents', () => {
  test('a batch applies in order: a snapshot replaces the log, later events build on it', () => {
    const s = reduce(initialState(), [
      { type: 'connection', connection: row(1) },
      snapshot([row(8), row(7)]),
      { type: 'connection', connection: row(9) },
      { type: 'daemon', daemon: { up: false, mode: 'attached', message: 'the daemon stopped' } },
      { type: 'notice', notice: { at: '2026-11-26T00:00:00Z', level: 'warn', text: 'daemon stopped' } },
    ]);
    assert.equal(s.loaded, true);
    assert.deepEqual(ids(s.connections), [9, 8, 7]);
    assert.equal(s.daemon?.up, false);
    assert.equal(s.lastNotice?.text, 'daemon stopped');
  });

  test('the state object changes when the log does, so the screen redraws', () => {
    const a = reduce(initialState(), [snapshot([row(1)])]);
    const b = reduce(a, [{ type: 'connection', connection: row(2) }]);
    assert.notEqual(b, a);
    assert.notEqual(b.connectionsVersion, a.connectionsVersion);
    assert.equal(reduce(b, []), b, 'an empty batch changes nothing');
  });

  test('prompt lists are replaced whole: an answered prompt disappears', () => {
    const prompt = { id: 'p1', tokenLabel: 'work', manufacturer: 'm', model: 'x', serial: '1', prompt: 'PIN', attempt: 1, expiresAt: '2026-11-26T00:01:00Z' };
    const a = reduce(initialState(), [{ type: 'pin-prompts', pinPrompts: [prompt] }]);
    assert.equal(a.pinPrompts.length, 1);
    const b = reduce(a, [{ type: 'pin-prompts', pinPrompts: [] }]);
    assert.equal(b.pinPrompts.length, 0);
  });
});
