/**
 * What a control client can make the daemon hold, and a large connection
 * log (issue 11). A real daemon on a state directory whose log was filled
 * straight into SQLite before it started: 107,600 rows, each a record with a
 * real RSA certificate, as a busy machine's log looks. Pages, and paging by
 * the agent and the CLI.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DesktopAgent } from '../../daemon/src/agent/agent';
import { dispatch } from '../../daemon/src/agent/dispatch';
import type { ControlClient } from '../../daemon/src/client/control-client';
import { MAX_PAGE_ROWS, RpcErrorCode, type ConnectionRecord } from '../../daemon/src/control/api';
import { openDb } from '../../daemon/src/identity/db';
import { connectControl } from '../helpers/control';
import { CLI, startDaemon, tempDir, type TestDaemon } from '../helpers/daemon';
import { getPki } from '../helpers/pki';
import { waitFor } from '../helpers/wait';

const GUARD = { timeout: 300_000 };
const ROWS = 107_600;
const MiB = 1024 * 1024;

/** A logged connection as the daemon writes it: closed, with the server's certificate. */
function record(id: number, certPem: string): ConnectionRecord {
  const at = new Date(Date.UTC(2026, 0, 1) + id * 1000).toISOString();
  return {
    id,
    role: id % 2 ? 'client' : 'server',
    transport: 'tls',
    requester: { pid: 4000 + (id % 100), uid: 1000, gid: 1000, executable: '/usr/bin/mail-client' },
    state: 'closed',
    localid: 'alice@example.test',
    remoteid: 'server.example.test',
    sni: 'server.example.test',
    version: 'TLS1.3',
    cipher: 'TLS_AES_128_GCM_SHA256',
    peerChain: [certPem],
    startedAt: at,
    establishedAt: at,
    endedAt: at,
    bytesIn: id * 3,
    bytesOut: id * 5,
    endReason: 'closed by application',
  };
}

/**
 * Fill `stateDir`'s log with rows 1..n straight into SQLite (the daemon not
 * running); `raw` replaces a row's columns or its stored JSON.
 */
function fillLog(stateDir: string, n: number, raw: Map<number, { state?: string; record: string }> = new Map()): void {
  const cert = getPki().serverRsa.certPem;
  const db = openDb(stateDir);
  try {
    // One transaction, no write-ahead copy of every page: fast, and the daemon turns WAL back on.
    db.pragma('journal_mode = DELETE');
    const insert = db.prepare('INSERT INTO connections (id, started_at, state, role, localid, remoteid, record) VALUES (?, ?, ?, ?, ?, ?, ?)');
    db.transaction(() => {
      for (let id = 1; id <= n; id++) {
        const r = record(id, cert);
        const odd = raw.get(id);
        insert.run(id, r.startedAt, odd?.state ?? r.state, r.role, r.localid, r.remoteid, odd?.record ?? JSON.stringify(r));
      }
    })();
  } finally {
    db.close();
  }
}

function assertDescending(rows: ConnectionRecord[], from: number, count: number): void {
  assert.equal(rows.length, count);
  for (let i = 0; i < rows.length; i++) if (rows[i]!.id !== from - i) assert.fail(`row ${i} is #${rows[i]!.id}, expected #${from - i}`);
}

describe(`control socket with a ${ROWS.toLocaleString('en')}-row connection log`, () => {
  let dir: string;
  let daemon: TestDaemon;
  let control: ControlClient;

  before(async () => {
    dir = tempDir();
    fillLog(path.join(dir, 'state'), ROWS);
    daemon = await startDaemon({ dir });
    control = await connectControl(daemon);
  });
  after(async () => {
    control?.close();
    await daemon?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('pages: at most 1000 rows, more says whether older ones exist, and paging with beforeId lists every row once', GUARD, async () => {
    const refused = await control.call('connections.list', { limit: MAX_PAGE_ROWS + 1 }).then(
      () => assert.fail('a limit over the page size is refused'),
      (e: { rpcCode: number; message: string }) => e,
    );
    assert.equal(refused.rpcCode, RpcErrorCode.INVALID_PARAMS);
    assert.match(refused.message, /from 1 to 1000; .*beforeId/);
    const first = await control.call('connections.list', {});
    assertDescending(first.connections, ROWS, MAX_PAGE_ROWS);
    assert.equal(first.more, true);
    let seen = 0;
    let next = ROWS;
    for (let beforeId: number | undefined, more = true; more; ) {
      const page = await control.call('connections.list', beforeId === undefined ? { limit: MAX_PAGE_ROWS } : { limit: MAX_PAGE_ROWS, beforeId });
      for (const r of page.connections) assert.equal(r.id, next--);
      seen += page.connections.length;
      more = page.more;
      beforeId = page.connections.at(-1)?.id;
    }
    assert.equal(seen, ROWS);
    assert.deepEqual(await control.call('connections.list', { beforeId: 1 }), { connections: [], more: false });
    const tail = await control.call('connections.list', { beforeId: 3 });
    assert.deepEqual(tail.connections.map((r) => r.id), [2, 1]);
    assert.equal(tail.more, false);
  });

  test('the desktop agent gets the 100,000 rows it keeps, and older ones on request, a page at a time', GUARD, async () => {
    const agent = new DesktopAgent({ socket: daemon.socket, mode: 'attached', connectionLimit: 100_000, backoffMs: { first: 50, max: 500 } });
    agent.start();
    try {
      await waitFor('the agent loaded 100,000 rows', () => agent.state.connections.length === 100_000, 120_000);
      assertDescending(agent.state.connections, ROWS, 100_000);
      const older = (await dispatch(agent, 'connections', { beforeId: ROWS - 100_000 + 1, limit: 5000 })) as ConnectionRecord[];
      assertDescending(older, ROWS - 100_000, 5000);
      const rest = (await dispatch(agent, 'connections', { beforeId: 2001, limit: 5000 })) as ConnectionRecord[];
      assertDescending(rest, 2000, 2000);
      await assert.rejects(dispatch(agent, 'connections', { limit: 0 }), /limit must be a whole number from 1 to 100000/);
    } finally {
      agent.stop();
    }
  });

  test('tlspool connections --limit 2500 lists 2500 rows, newest first, as one JSON array', GUARD, () => {
    const r = spawnSync(process.execPath, [CLI, 'connections', '--json', '--limit', '2500', '--state-dir', daemon.stateDir], { encoding: 'utf8', maxBuffer: 64 * MiB });
    assert.equal(r.status, 0, r.stderr);
    const rows = JSON.parse(r.stdout) as ConnectionRecord[];
    assertDescending(rows, ROWS, 2500);
    assert.deepEqual(rows[0], record(ROWS, getPki().serverRsa.certPem));
    const text = spawnSync(process.execPath, [CLI, 'connections', '--limit', '3', '--state-dir', daemon.stateDir], { encoding: 'utf8' });
    assert.equal(text.status, 0, text.stderr);
    assert.deepEqual(text.stdout.trim().split('\n').map((l) => l.split(' ')[0]), [`#${ROWS}`, `#${ROWS - 1}`, `#${ROWS - 2}`]);
  });
});
