/**
 * What a control client can make the daemon hold, and a connection log that
 * is large or damaged (issue 11: points 6, 8 and 11). A real daemon on a
 * state directory whose log was filled straight into SQLite before it
 * started: 107,600 rows, each a record with a real RSA certificate, as a
 * busy machine's log looks. Clients that ask and never read, subscribers
 * that never read, paging by the agent and the CLI, and damaged rows.
 */
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { DesktopAgent } from '../../src/desktop/agent/agent';
import { dispatch } from '../../src/desktop/agent/dispatch';
import type { ControlClient } from '../../src/client/control-client';
import { RpcErrorCode } from '../../src/contract/control';
import { MAX_PAGE_ROWS, type ConnectionRecord } from '../../src/model/connection';
import { MAX_QUEUED_EVENTS } from '../../src/daemon/control/server';
import { openDb } from '../../src/store/db';
import { collect, connectControl, controlSocketOf } from '../../harness/control';
import { CLI, startDaemon, tempDir, type TestDaemon } from '../../harness/daemon';
import { getPki } from '../../harness/pki';
import { settledStats } from '../../harness/traffic';
import { waitFor } from '../../harness/wait';

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

/** A control connection that sends and never reads (until `read()`). */
class Unread {
  private text = '';
  private reading = false;
  readonly lines: string[] = [];
  closed = false;

  private constructor(readonly sock: net.Socket) {
    sock.on('error', () => {});
    sock.on('close', () => (this.closed = true));
  }

  static connect(socketPath: string): Promise<Unread> {
    return new Promise((resolve, reject) => {
      const sock = net.createConnection(socketPath);
      sock.once('connect', () => resolve(new Unread(sock)));
      sock.once('error', reject);
    });
  }

  send(lines: object[]): void {
    this.sock.write(lines.map((l) => `${JSON.stringify({ jsonrpc: '2.0', ...l })}\n`).join(''));
  }

  /** Start reading: every line that comes is kept. */
  read(): void {
    if (this.reading) return;
    this.reading = true;
    this.sock.setEncoding('utf8');
    this.sock.on('data', (s: string) => {
      this.text += s;
      let nl: number;
      while ((nl = this.text.indexOf('\n')) >= 0) {
        this.lines.push(this.text.slice(0, nl));
        this.text = this.text.slice(nl + 1);
      }
    });
  }

  close(): void {
    this.sock.destroy();
  }
}

/** The daemon's resident set once idle, in MiB. */
async function rssMiB(daemon: TestDaemon): Promise<number> {
  return (await settledStats(daemon.pid)).rssKb / 1024;
}

/** Log lines (JSON objects) whose msg is `msg`. */
function logged(daemon: TestDaemon, msg: string): Array<Record<string, unknown>> {
  return daemon
    .logs()
    .split('\n')
    .filter((l) => l.includes(`"msg":"${msg}"`))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
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

  test('a client that asks 30 times for every row, then 300 times for whole pages, and never reads, barely grows the daemon; once it leaves the daemon is back where it was', GUARD, async (t: TestContext) => {
    // Warm: the pages a client asks for once, so the baseline includes what any client costs.
    for (let beforeId = ROWS + 1, i = 0; i < 5; i++) beforeId = (await control.call('connections.list', { beforeId })).connections.at(-1)!.id;
    const baseline = await rssMiB(daemon);

    const unread = await Unread.connect(controlSocketOf(daemon));
    // What the desktop agent asked for before pages (--log-rows 100000), then whole pages all over the log.
    unread.send(Array.from({ length: 30 }, (_, i) => ({ id: i + 1, method: 'connections.list', params: { limit: 100_000 } })));
    unread.send(Array.from({ length: 300 }, (_, i) => ({ id: 31 + i, method: 'connections.list', params: { limit: MAX_PAGE_ROWS, beforeId: ROWS + 1 - (i % 100) * 1000 } })));
    // The daemon does everything queued before it answers this on another connection.
    assert.equal((await control.call('status', {})).pid, daemon.pid);
    const holding = await rssMiB(daemon);
    // Others are served while it holds that client's requests.
    assert.equal((await control.call('connections.list', { limit: 3 })).connections[0]!.id, ROWS);

    unread.close();
    await waitFor('the daemon notices the client left', () => unread.closed);
    assert.equal((await control.call('status', {})).pid, daemon.pid);
    const left = await rssMiB(daemon);
    t.diagnostic(`RSS MiB: baseline ${baseline.toFixed(1)}, holding 330 unread requests ${holding.toFixed(1)}, after the client left ${left.toFixed(1)}`);
    assert.ok(holding - baseline < 100, `RSS grew ${(holding - baseline).toFixed(1)} MiB for a client that does not read`);
    assert.ok(left - baseline < 32, `RSS is ${(left - baseline).toFixed(1)} MiB over the baseline after the client left`);
  });

  test('requests held for a client that did not read are all answered, once each, when it reads', GUARD, async () => {
    const client = await Unread.connect(controlSocketOf(daemon));
    try {
      client.send([{ id: 'big', method: 'connections.list', params: { limit: 100_000 } }]);
      const pages = 40;
      client.send(Array.from({ length: pages }, (_, i) => ({ id: i, method: 'connections.list', params: { beforeId: ROWS + 1 - i * MAX_PAGE_ROWS } })));
      client.send([{ id: 'last', method: 'status' }]);
      await control.call('status', {});
      client.read();
      await waitFor('every answer', () => client.lines.length === pages + 2, 120_000);
      const answers = client.lines.map((l) => JSON.parse(l) as { id: unknown; result?: { connections: ConnectionRecord[]; more: boolean }; error?: { code: number; message: string } });
      const big = answers.find((a) => a.id === 'big')!;
      assert.equal(big.error?.code, RpcErrorCode.INVALID_PARAMS);
      assert.match(big.error!.message, /limit must be a whole number from 1 to 1000; a page holds at most 1000: for more, ask again with beforeId/);
      for (let i = 0; i < pages; i++) {
        const page = answers.find((a) => a.id === i)!.result!;
        assertDescending(page.connections, ROWS - i * MAX_PAGE_ROWS, MAX_PAGE_ROWS);
        assert.equal(page.more, true);
      }
      assert.equal(answers.at(-1)!.id, 'last');
    } finally {
      client.close();
    }
  });

  test('pages: at most 1000 rows, more says whether older ones exist, and paging with beforeId lists every row once', GUARD, async () => {
    const refused = await control.call('connections.list', { limit: MAX_PAGE_ROWS + 1 }).then(
      () => assert.fail('a limit over the page size is refused'),
      (e: { code: string; message: string }) => e,
    );
    assert.equal(refused.code, 'EINVAL');
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

describe('control socket subscribers that do not read', () => {
  let dir: string;
  let daemon: TestDaemon;
  let control: ControlClient;

  before(async () => {
    dir = tempDir();
    fillLog(path.join(dir, 'state'), 20_000);
    daemon = await startDaemon({ dir });
    control = await connectControl(daemon);
  });
  after(async () => {
    control?.close();
    await daemon?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** `n` events to every subscriber (tokens.lock sends tokens-locked), in batches. */
  async function events(n: number, stop: () => boolean = () => false): Promise<number> {
    let sent = 0;
    while (sent < n && !stop()) {
      const batch = Math.min(500, n - sent);
      await Promise.all(Array.from({ length: batch }, () => control.call('tokens.lock', {})));
      sent += batch;
    }
    return sent;
  }

  test('a subscriber that asked for pages and reads late keeps its answers and its events', GUARD, async () => {
    const slow = await Unread.connect(controlSocketOf(daemon));
    try {
      slow.send([{ id: 0, method: 'events.subscribe' }]);
      slow.send(Array.from({ length: 5 }, (_, i) => ({ id: i + 1, method: 'connections.list', params: { beforeId: 20_001 - i * 1000 } })));
      await control.call('status', {});
      await events(200);
      slow.read();
      await waitFor('the answers and the events', () => slow.lines.length === 6 + 200, 60_000);
      const got = slow.lines.map((l) => JSON.parse(l) as { id?: number; method?: string });
      assert.equal(got.filter((m) => m.method === 'event').length, 200);
      assert.deepEqual(got.filter((m) => m.id !== undefined).map((m) => m.id).sort(), [0, 1, 2, 3, 4, 5]);
      assert.equal(slow.closed, false);
      assert.equal(logged(daemon, 'control client does not read its events; closing it').length, 0);
    } finally {
      slow.close();
    }
  });

  test('subscribers that never read are closed once 1 MiB of events waits for each, with one warning each; readers get every event', GUARD, async (t: TestContext) => {
    const baseline = await rssMiB(daemon);
    const reader = await connectControl(daemon);
    const seen = collect(reader, 'event');
    await reader.call('events.subscribe', {});
    const deaf = await Promise.all(Array.from({ length: 8 }, () => Unread.connect(controlSocketOf(daemon))));
    for (const d of deaf) d.send([{ id: 1, method: 'events.subscribe' }]);
    await control.call('status', {});
    const warnings = () => logged(daemon, 'control client does not read its events; closing it');
    // Each tokens-locked notification is about 80 bytes: 60,000 are some 4.6 MiB, far past the bound.
    const sent = await events(60_000, () => warnings().length === deaf.length);
    // A few more, so that a subscriber warned about would be warned again if it were still listened to.
    await events(2000);
    const total = sent + 2000;
    const peak = await rssMiB(daemon);
    t.diagnostic(`${total} events; RSS MiB: baseline ${baseline.toFixed(1)}, after ${peak.toFixed(1)}; warnings ${JSON.stringify(warnings().map((w) => w.queuedEvents))}`);
    assert.equal(warnings().length, deaf.length, 'one warning per subscriber that does not read');
    for (const w of warnings()) assert.ok((w.queuedEvents as number) <= MAX_QUEUED_EVENTS + 1024, `closed with ${String(w.queuedEvents)} bytes of events queued`);
    assert.ok(peak - baseline < 64, `RSS grew ${(peak - baseline).toFixed(1)} MiB`);
    await waitFor('the reader got every event', () => seen.length === total, 60_000);
    assert.ok(seen.every((e) => e.type === 'tokens-locked'));
    assert.equal((await control.call('status', {})).pid, daemon.pid);
    reader.close();
    for (const d of deaf) d.close();
  });
});

describe('a connection log with damaged rows', () => {
  let dir: string;
  let daemon: TestDaemon;
  let control: ControlClient;
  const cert = '-----BEGIN CERTIFICATE-----\nTm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n';

  before(async () => {
    dir = tempDir();
    const good = (id: number) => record(id, getPki().serverRsa.certPem);
    fillLog(
      path.join(dir, 'state'),
      3000,
      new Map([
        // Cut short; and left 'established', as by a daemon killed outright, which the next one's start ends.
        [1500, { state: 'established', record: JSON.stringify(good(1500)).slice(0, 200) }],
        [1400, { record: JSON.stringify({ id: 1400 }) }],
        [1300, { record: JSON.stringify({ ...good(1300), peerChain: [cert] }) }],
        [1200, { record: '[1, 2, 3]' }],
      ]),
    );
    daemon = await startDaemon({ dir });
    control = await connectControl(daemon);
  });
  after(async () => {
    control?.close();
    await daemon?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a damaged row is listed as damaged; the rows and pages around it list as before; each is warned about once', GUARD, async () => {
    const top = await control.call('connections.list', { limit: 1000 });
    assertDescending(top.connections, 3000, 1000);
    for (let round = 0; round < 2; round++) {
      const page = await control.call('connections.list', { beforeId: 2001 });
      assertDescending(page.connections, 2000, 1000);
      assert.equal(page.more, true);
      const byId = new Map(page.connections.map((r) => [r.id, r]));
      const cut = byId.get(1500)!;
      assert.match(cut.damaged!, /JSON does not parse/);
      assert.match(cut.endReason!, /^the log row is damaged/);
      // The table's own columns are still shown; the start ended the 'established' one.
      assert.equal(cut.state, 'closed');
      assert.equal(cut.role, 'server');
      assert.equal(cut.remoteid, 'server.example.test');
      assert.match(byId.get(1400)!.damaged!, /role/);
      assert.match(byId.get(1200)!.damaged!, /not a JSON object/);
      assert.equal(byId.get(1300)!.damaged, undefined, 'a chain is not parsed to list it');
      for (const id of [1501, 1499, 1401, 1399, 1201, 1199]) assert.deepEqual(byId.get(id), record(id, getPki().serverRsa.certPem));
    }
    const rest = await control.call('connections.list', { beforeId: 1001 });
    assertDescending(rest.connections, 1000, 1000);
    assert.equal(rest.more, false);
    const warnings = logged(daemon, 'a row of the connection log is damaged; it is listed as damaged');
    assert.deepEqual(warnings.map((w) => w.id).sort(), [1200, 1400, 1500]);
  });

  test('connections.get shows a damaged row, and a certificate that does not parse, as damaged', GUARD, async () => {
    const row = await control.call('connections.get', { id: 1500 });
    assert.match(row.connection.damaged!, /JSON does not parse/);
    assert.deepEqual(row.chain, []);
    const chain = await control.call('connections.get', { id: 1300 });
    assert.equal(chain.connection.damaged, undefined);
    assert.equal(chain.chain.length, 1);
    assert.match(chain.chain[0]!.damaged!, /does not parse/);
    assert.equal(chain.chain[0]!.pem, cert);
    assert.equal((await control.call('connections.get', { id: 1301 })).chain[0]!.damaged, undefined);
  });

  test('tlspool connections shows the damaged rows among the others and says so on stderr', GUARD, () => {
    const r = spawnSync(process.execPath, [CLI, 'connections', '--limit', '2000', '--state-dir', daemon.stateDir], { encoding: 'utf8', maxBuffer: 64 * MiB });
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 2000);
    assert.match(lines.find((l) => l.startsWith('#1500 '))!, /\[closed\] damaged log row: its JSON does not parse/);
    assert.match(lines.find((l) => l.startsWith('#1501 '))!, /closed by application$/);
    assert.match(r.stderr, /row 1500 of the connection log is damaged/);
    const json = spawnSync(process.execPath, [CLI, 'connections', '--json', '--limit', '2000', '--state-dir', daemon.stateDir], { encoding: 'utf8', maxBuffer: 64 * MiB });
    const rows = JSON.parse(json.stdout) as ConnectionRecord[];
    assert.deepEqual(rows.filter((x) => x.damaged).map((x) => x.id), [1500, 1400, 1200]);
  });
});
