/**
 * `tlspool ui --web` as a browser and other local processes meet it: the
 * URL it prints, the token every request needs, the Host and Origin checks,
 * and the WebSocket bridge answering DesktopApi calls — against the real
 * daemon, attached or hosted.
 */
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import WebSocket from 'ws';
import { PoolClient } from '../../src/client/pool-client';
import type { UiState } from '../../src/contract/desktop';
import type { WsServerMessage } from '../../src/contract/ws';
import { stateWithLog } from '../../harness/connection-log';
import { startDaemon, tempDir, type TestDaemon } from '../../harness/daemon';
import { rssKb, settledStats } from '../../harness/traffic';
import { waitFor } from '../../harness/wait';
import { startWebUi, type WebUi } from '../../harness/web-ui';
import { CLIENT_EMAIL } from '../../harness/pki';
import type { Peer } from '../../harness/peers';
import { addTokenIdentities, createTokenKeys, PIN, startRevServer, startTlsTo, startTokenPool, talk, type TokenPool } from '../../harness/token-pool';
import type { PinPromptView } from '../../src/contract/desktop';
import { field } from '../../src/protocol/layout';
import { SOFTHSM_MODULE } from '../../harness/softhsm';

const GUARD = { timeout: 60_000 };

let daemon: TestDaemon | undefined;
let ui: WebUi | undefined;
let dirs: string[] = [];
let tokenPool: TokenPool | undefined;
let peer: Peer | undefined;
let cleanups: Array<() => unknown> = [];
afterEach(async () => {
  await ui?.stop();
  ui = undefined;
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
  await peer?.stop();
  peer = undefined;
  await tokenPool?.stop();
  tokenPool = undefined;
  await daemon?.stop();
  daemon = undefined;
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  dirs = [];
});

/** A renderer build stand-in: the server serves whatever dist/ui holds; these tests are about the server. */
function rendererDir(): string {
  const dir = tempDir('tlspool-renderer-');
  dirs.push(dir);
  fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>TLS Pool</title><script type="module" src="/app.js"></script>');
  fs.writeFileSync(path.join(dir, 'app.js'), 'console.log("ui")');
  return dir;
}

/** `tlspool ui --web` serving the stand-in renderer; stopped after each test. */
async function startUi(args: string[]): Promise<WebUi> {
  const u = await startWebUi(['--renderer-dir', rendererDir(), ...args]);
  ui = u;
  return u;
}

function get(port: number, pathAndQuery: string, headers: http.OutgoingHttpHeaders = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: pathAndQuery, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (s: string) => (body += s));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
  });
}

/** Open the WebSocket; resolves with it, or with the HTTP status it was refused with. */
function openWs(port: number, query: string, origin?: string, headers: Record<string, string> = {}): Promise<WebSocket | number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws${query}`, { headers, ...(origin ? { origin } : {}) });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => resolve(res.statusCode!));
    ws.once('error', reject);
  });
}

/** Open the WebSocket as the page would (token, Origin); fails if refused. */
async function openPage(u: WebUi): Promise<WebSocket> {
  const ws = await openWs(u.port, `?token=${u.token}`, `http://127.0.0.1:${u.port}`);
  assert.ok(ws instanceof WebSocket, `the WebSocket was refused with ${String(ws)}`);
  return ws;
}

/** The answer to request `id` among what `collect` gathered from `ws` (which must stay open until it comes). */
function answerTo(ws: WebSocket, got: WsServerMessage[], id: number, timeoutMs = 15_000): Promise<WsServerMessage> {
  return waitFor(
    `the answer to request ${id}`,
    () => {
      const a = got.find((m) => 'id' in m && m.id === id);
      if (!a && ws.readyState !== WebSocket.OPEN) throw new Error(`the socket closed before answering request ${id}`);
      return a;
    },
    timeoutMs,
  );
}

/** Ask getState on `ws` until the agent says the daemon is up with `rows` connections loaded. */
async function untilLoaded(ws: WebSocket, got: WsServerMessage[], rows: number, firstId: number): Promise<void> {
  for (let id = firstId; ; id++) {
    ws.send(JSON.stringify({ id, method: 'getState', params: {} }));
    const a = await answerTo(ws, got, id);
    assert.ok('result' in a, JSON.stringify(a));
    const state = a.result as UiState;
    if (state.daemon.up && state.connections.length === rows) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A WebSocket client that collects everything the server sends. */
function collect(ws: WebSocket): WsServerMessage[] {
  const got: WsServerMessage[] = [];
  ws.on('message', (d) => got.push(JSON.parse(d.toString()) as WsServerMessage));
  return got;
}

describe('tlspool ui --web', () => {
  test('prints one URL on 127.0.0.1 with a 256-bit token and says it attached to the running daemon', GUARD, async () => {
    daemon = await startDaemon();
    const u = await startUi(['--socket', daemon.socket]);
    assert.equal(u.url.hostname, '127.0.0.1');
    assert.ok(u.port > 0);
    assert.equal(Buffer.from(u.token, 'base64url').length, 32);
    assert.match(u.line, /attached/);
  });

  test('the files are served with the security headers and no cookie, with or without the token; nothing else takes the token', GUARD, async () => {
    daemon = await startDaemon();
    const u = await startUi(['--socket', daemon.socket]);
    const host = { Host: `127.0.0.1:${u.port}` };
    // The built renderer is the same for everyone and holds no secret; the state is only behind /ws.
    for (const where of ['/', `/?token=${u.token}`, '/?token=wrong']) {
      const page = await get(u.port, where, host);
      assert.equal(page.status, 200, where);
      assert.match(page.body, /<title>TLS Pool<\/title>/);
      assert.match(String(page.headers['content-security-policy']), /default-src 'self'; connect-src 'self' ws:\/\/127\.0\.0\.1:\d+/);
      assert.equal(page.headers['x-content-type-options'], 'nosniff');
      assert.equal(page.headers['referrer-policy'], 'no-referrer');
      assert.equal(page.headers['cache-control'], 'no-store');
      // A cookie would go to every other server on 127.0.0.1: cookies are not scoped by port.
      assert.equal(page.headers['set-cookie'], undefined, where);
    }
    const asset = await get(u.port, '/app.js', host);
    assert.equal(asset.status, 200);
    assert.equal(asset.body, 'console.log("ui")');
    assert.equal(asset.headers['set-cookie'], undefined);
    assert.equal((await get(u.port, '/nothing.js', host)).status, 404);
  });

  test('a request naming another Host (DNS rebinding) gets 403 even with the token', GUARD, async () => {
    daemon = await startDaemon();
    const u = await startUi(['--socket', daemon.socket]);
    const r = await get(u.port, `/?token=${u.token}`, { Host: `attacker.example:${u.port}` });
    assert.equal(r.status, 403);
    assert.match(r.body, /Host/);
  });

  test('the WebSocket without the token, or from another origin, is refused', GUARD, async () => {
    daemon = await startDaemon();
    const u = await startUi(['--socket', daemon.socket]);
    const origin = `http://127.0.0.1:${u.port}`;
    assert.equal(await openWs(u.port, '', origin), 403);
    assert.equal(await openWs(u.port, '?token=nope', origin), 403);
    assert.equal(await openWs(u.port, `?token=${u.token}`, 'http://evil.example'), 403);
    assert.equal(await openWs(u.port, `?token=${u.token}`), 403);
    // The cookie earlier versions set is no way in: the token counts only in the WebSocket's URL.
    assert.equal(await openWs(u.port, '', origin, { Cookie: `tlspool_token=${u.token}` }), 403);
    assert.equal(await openWs(u.port, '', origin, { Authorization: `Bearer ${u.token}` }), 403);
    const ws = await openWs(u.port, `?token=${u.token}`, origin);
    assert.ok(ws instanceof WebSocket);
    ws.close();
  });

  test('with the token, getState answers with the state and the daemon up; each request is answered once, a bad one with an error', GUARD, async () => {
    daemon = await startDaemon();
    const u = await startUi(['--socket', daemon.socket]);
    const ws = await openWs(u.port, `?token=${u.token}`, `http://127.0.0.1:${u.port}`);
    assert.ok(ws instanceof WebSocket);
    const got = collect(ws);
    const answer = (id: number) => waitFor(`answer ${id}`, () => got.find((m) => 'id' in m && m.id === id));
    let state: UiState | undefined;
    for (let id = 1; !state?.daemon.up; id++) {
      ws.send(JSON.stringify({ id, method: 'getState', params: {} }));
      const a = await answer(id);
      assert.ok('result' in a, JSON.stringify(a));
      state = a.result as UiState;
      if (!state.daemon.up) await waitFor('a daemon event', () => got.some((m) => 'event' in m && m.event.type === 'daemon'));
    }
    assert.equal(state.daemon.mode, 'attached');
    assert.deepEqual(state.pinPrompts, []);

    ws.send(JSON.stringify({ id: 100, method: 'format-disk', params: {} }));
    ws.send(JSON.stringify({ id: 101, method: 'getState', params: 'x' }));
    ws.send('not json');
    const unknown = await answer(100);
    const badParams = await answer(101);
    const broken = await answer(0);
    assert.ok('error' in unknown && unknown.error.code === 'ENOSYS', JSON.stringify(unknown));
    assert.ok('error' in badParams && badParams.error.code === 'EINVAL', JSON.stringify(badParams));
    assert.ok('error' in broken && broken.error.code === 'EINVAL', JSON.stringify(broken));
    ws.send(JSON.stringify({ id: 102, method: 'getState', params: {} }));
    await answer(102);
    assert.equal(got.filter((m) => 'id' in m && m.id === 100).length, 1);
    assert.equal(got.filter((m) => 'id' in m && m.id === 101).length, 1);
    ws.close();
  });

  test('a PIN prompt reaches the page as a pushed event, and the PIN it sends back completes the STARTTLS', GUARD, async () => {
    tokenPool = await startTokenPool();
    const u = await startUi(['--socket', tokenPool.daemon.socket]);
    await waitFor('the UI registered for PIN entry', () => /PIN entry program registered/.test(tokenPool!.daemon.logs()));
    const ws = await openWs(u.port, `?token=${u.token}`, `http://127.0.0.1:${u.port}`);
    assert.ok(ws instanceof WebSocket);
    const got = collect(ws);
    peer = await startRevServer();
    const handshake = startTlsTo(tokenPool.client(), peer.port, CLIENT_EMAIL);
    // First the page is asked whether alice may be shown to the server; it allows, once.
    const approvals = await waitFor('a pushed approval', () => {
      for (const m of got) if ('event' in m && m.event.type === 'approvals' && m.event.approvals.length > 0) return m.event.approvals;
      return undefined;
    });
    assert.equal(approvals[0]!.localid, CLIENT_EMAIL);
    ws.send(JSON.stringify({ id: 2, method: 'decideApproval', params: { id: approvals[0]!.id, decision: 'allow', lifetime: 'once' } }));
    const prompts = await waitFor('a pushed PIN prompt', () => {
      for (const m of got) if ('event' in m && m.event.type === 'pin-prompts' && m.event.pinPrompts.length > 0) return m.event.pinPrompts;
      return undefined;
    });
    const view: PinPromptView = prompts[0]!;
    assert.equal(view.tokenLabel, 'work');
    ws.send(JSON.stringify({ id: 1, method: 'answerPin', params: { id: view.id, pin: PIN } }));
    const r = await handshake;
    assert.equal(await talk(r.fd), 'cba\n');
    const answer = await waitFor('the answer', () => got.find((m) => 'id' in m && m.id === 1));
    assert.deepEqual(answer, { id: 1, result: { ok: true } });
    ws.close();
  });

  /**
   * With the UI's PIN prompt up for alice's STARTTLS: PINs the pool's pin
   * field cannot carry are refused with a message, the UI and the daemon
   * stay up, and the right PIN then unlocks the token.
   */
  async function refusesUnsendablePins(u: WebUi, socket: string): Promise<void> {
    const ws = await openWs(u.port, `?token=${u.token}`, `http://127.0.0.1:${u.port}`);
    assert.ok(ws instanceof WebSocket);
    const got = collect(ws);
    const answer = (id: number) => waitFor(`answer ${id}`, () => got.find((m) => 'id' in m && m.id === id));
    const app = PoolClient.connect(socket);
    cleanups.push(() => app.close());
    peer = await startRevServer();
    const handshake = startTlsTo(app, peer.port, CLIENT_EMAIL);
    const approvals = await waitFor('a pushed approval', () => {
      for (const m of got) if ('event' in m && m.event.type === 'approvals' && m.event.approvals.length > 0) return m.event.approvals;
      return undefined;
    });
    ws.send(JSON.stringify({ id: 1, method: 'decideApproval', params: { id: approvals[0]!.id, decision: 'allow', lifetime: 'once' } }));
    const view = await waitFor('a pushed PIN prompt', () => {
      for (const m of got) if ('event' in m && m.event.type === 'pin-prompts' && m.event.pinPrompts.length > 0) return m.event.pinPrompts[0];
      return undefined;
    });
    // The pin field of struct pioc_pinentry holds the PIN and its NUL.
    const size = field('pioc_pinentry', 'pin').size;
    const tooLong = new RegExp(`a PIN has at most ${size - 1} bytes`);
    const bad: Array<[string, RegExp]> = [
      ['7'.repeat(size), tooLong],
      ['\u00e9'.repeat(size / 2), tooLong], // 64 characters, 128 bytes in UTF-8
      ['7391\u00005824', /a PIN cannot contain a NUL byte/],
    ];
    let id = 10;
    for (const [pin, message] of bad) {
      ws.send(JSON.stringify({ id, method: 'answerPin', params: { id: view.id, pin } }));
      const a = await answer(id);
      assert.ok('error' in a, `refused, not ${JSON.stringify(a)}`);
      assert.equal(a.error.code, 'EINVAL');
      assert.match(a.error.message, message);
      id++;
    }
    assert.equal(u.proc.exitCode, null, `the UI process is still up: ${u.logs()}`);
    assert.equal(u.proc.signalCode, null);
    const probe = PoolClient.connect(socket);
    try {
      assert.ok((await probe.ping()).identity.length > 0, 'the daemon still answers');
    } finally {
      probe.close();
    }
    ws.send(JSON.stringify({ id, method: 'getState', params: {} }));
    const state = await answer(id);
    assert.ok('result' in state && (state.result as UiState).pinPrompts.some((p) => p.id === view.id), 'the prompt still waits for a PIN');
    ws.send(JSON.stringify({ id: ++id, method: 'answerPin', params: { id: view.id, pin: PIN } }));
    assert.deepEqual(await answer(id), { id, result: { ok: true } });
    const r = await handshake;
    assert.equal(await talk(r.fd), 'cba\n');
    ws.close();
  }

  test('a PIN of 128 bytes or with a NUL byte is refused with a message; the UI and the daemon stay up, and the right PIN then unlocks', GUARD, async () => {
    tokenPool = await startTokenPool();
    const u = await startUi(['--socket', tokenPool.daemon.socket]);
    await waitFor('the UI registered for PIN entry', () => /PIN entry program registered/.test(tokenPool!.daemon.logs()));
    await refusesUnsendablePins(u, tokenPool.daemon.socket);
    assert.doesNotMatch(tokenPool.daemon.logs(), new RegExp(PIN));
  });

  test('hosting the daemon: a PIN that cannot be sent is refused, and the process (UI and daemon) stays up', GUARD, async () => {
    const keys = createTokenKeys();
    cleanups.push(() => keys.hsm.cleanup());
    const dir = tempDir();
    dirs.push(dir);
    const stateDir = path.join(dir, 'state');
    addTokenIdentities(stateDir, keys);
    const socket = path.join(dir, 'tlspool.sock');
    ui = await startWebUi(['--renderer-dir', rendererDir(), '--host-daemon', '--socket', socket, '--state-dir', stateDir, '--pkcs11-module', SOFTHSM_MODULE], keys.hsm.env);
    assert.match(ui.line, /hosting the daemon in this process/);
    await waitFor('the UI registered for PIN entry', () => /PIN entry program registered/.test(ui!.logs()));
    await refusesUnsendablePins(ui, socket);
    assert.doesNotMatch(ui.logs(), new RegExp(PIN));
  });

  test('with no daemon on the socket it runs one itself, which answers PING', GUARD, async () => {
    const dir = tempDir();
    dirs.push(dir);
    const socket = path.join(dir, 'tlspool.sock');
    const u = await startUi(['--socket', socket, '--state-dir', path.join(dir, 'state')]);
    assert.match(u.line, /hosting the daemon in this process/);
    // The hosted daemon logs its start-up summary as tlspool daemon does.
    const starting = u.logs().split('\n').find((l) => l.includes('"msg":"starting"'));
    assert.ok(starting, u.logs());
    assert.match((JSON.parse(starting) as { config: string }).config, new RegExp(`socket: ${socket.replace(/[.]/g, '\\.')}\n`));
    const client = PoolClient.connect(socket);
    try {
      assert.ok((await client.ping()).identity.length > 0);
    } finally {
      client.close();
    }
  });

  test('--host-daemon with a daemon already answering on the socket fails, saying to drop the flag', GUARD, async () => {
    daemon = await startDaemon();
    await assert.rejects(startUi(['--host-daemon', '--socket', daemon.socket]), /exited with 1: .*already answers.*drop --host-daemon/s);
  });

  test('without a built renderer it fails, saying to run npm run setup', GUARD, async () => {
    daemon = await startDaemon();
    const empty = tempDir('tlspool-norenderer-');
    dirs.push(empty);
    await assert.rejects(startWebUi(['--socket', daemon.socket, '--renderer-dir', empty]), /exited with 1: .*run npm run setup/s);
  });
});

/**
 * A page that sends and does not read (a frozen tab, or a local process
 * with the token) must not make the UI process hold its answers and events
 * without end. The answers here are big: the connections of a log of ROWS.
 */
describe('tlspool ui --web and a page that does not read', () => {
  const ROWS = 50_000;
  const SLOW = { timeout: 180_000 };

  test('its requests are read one at a time: 20 unread large answers cost the UI about one, another page is still answered, and the memory is returned when it goes', SLOW, async (t) => {
    const dir = stateWithLog(ROWS, 'tlspool-webui-log-');
    dirs.push(dir);
    daemon = await startDaemon({ dir });
    const u = await startUi(['--socket', daemon.socket]);
    const page = await openPage(u);
    const pageGot = collect(page);
    await untilLoaded(page, pageGot, 1000, 1);
    const before = (await settledStats(u.proc.pid!)).rssKb;

    // It sends 20 requests, each answered with every connection in the log (about 22 MB of JSON), and never reads.
    const hog = await openPage(u);
    hog.pause();
    const hogGot = collect(hog);
    for (let id = 1; id <= 20; id++) hog.send(JSON.stringify({ id, method: 'connections', params: { limit: ROWS } }));
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, rssKb(u.proc.pid!))), 20);
    try {
      // The other page's request goes to the daemon after whatever the hog got to send there first.
      page.send(JSON.stringify({ id: 1000, method: 'connections', params: { limit: 10 } }));
      const a = await answerTo(page, pageGot, 1000, 150_000);
      assert.ok('result' in a && Array.isArray(a.result) && a.result.length === 10, JSON.stringify(a).slice(0, 200));
      await new Promise((r) => setTimeout(r, 1000));
    } finally {
      clearInterval(sampler);
    }
    const growthMiB = (peak - before) / 1024;
    t.diagnostic(`UI RSS: ${Math.round(before / 1024)} MiB before, ${Math.round(peak / 1024)} MiB at most while 20 answers of ${ROWS} rows went unread (+${Math.round(growthMiB)} MiB)`);
    // One such answer in flight costs the agent some 150 MiB (parsed from the control socket, then as JSON, then as a frame); all 20 at once cost several times that.
    assert.ok(growthMiB < 300, `the UI grew by ${Math.round(growthMiB)} MiB for a page that does not read`);

    // Throttled, not dropped: once it reads, its answers come, in order.
    hog.resume();
    const first = await answerTo(hog, hogGot, 1, 60_000);
    const second = await answerTo(hog, hogGot, 2, 60_000);
    assert.ok('result' in first && (first.result as unknown[]).length === ROWS);
    assert.ok('result' in second && (second.result as unknown[]).length === ROWS);
    assert.deepEqual(hogGot.filter((m) => 'id' in m).map((m) => (m as { id: number }).id).slice(0, 2), [1, 2]);

    // It goes (the socket closes from its side): the memory comes back.
    hog.terminate();
    page.close();
    let now = rssKb(u.proc.pid!);
    await waitFor('the UI RSS back near where it was', () => (now = rssKb(u.proc.pid!)) < before + 64 * 1024, 90_000).catch(() => {
      throw new Error(`the UI RSS stayed at ${Math.round(now / 1024)} MiB (${Math.round(before / 1024)} MiB before)`);
    });
    t.diagnostic(`UI RSS after the page went: ${Math.round((await settledStats(u.proc.pid!)).rssKb / 1024)} MiB`);
  });

  test('one that leaves more than 8 MiB of pushed events unread is disconnected with 1008; a page that reads keeps its link through snapshots bigger than that', SLOW, async () => {
    const rows = 30_000; // a snapshot of some 13 MB
    const dir = stateWithLog(rows, 'tlspool-webui-log-');
    dirs.push(dir);
    daemon = await startDaemon({ dir });
    const u = await startUi(['--socket', daemon.socket, '--log-rows', String(rows)]);
    const page = await openPage(u);
    const pageGot = collect(page);
    let pageClosed: number | undefined;
    page.on('close', (code) => (pageClosed = code));
    await untilLoaded(page, pageGot, rows, 1);
    const hog = await openPage(u);
    hog.pause();
    let hogClosed: [number, string] | undefined;
    hog.on('close', (code, reason) => (hogClosed = [code, reason.toString()]));

    // Each restart of the daemon makes the agent push a fresh snapshot to every page.
    const snapshots = () => pageGot.filter((m) => 'event' in m && m.event.type === 'snapshot').length;
    for (let i = 0; i < 3; i++) {
      const seen = snapshots();
      await daemon.stop();
      daemon = await startDaemon({ dir });
      await waitFor('a fresh snapshot on the page that reads', () => snapshots() > seen, 60_000);
    }
    // Anything pushed now finds three snapshots unread behind the hog's socket: one more than a reader may have.
    page.send(JSON.stringify({ id: 100, method: 'lockTokens', params: {} }));
    await answerTo(page, pageGot, 100);
    hog.resume();
    await waitFor('the hog disconnected', () => hogClosed, 60_000);
    assert.deepEqual(hogClosed, [1008, 'the page does not read its messages']);
    assert.equal(pageClosed, undefined, 'the page that reads kept its link');
    page.send(JSON.stringify({ id: 101, method: 'getState', params: {} }));
    assert.ok('result' in (await answerTo(page, pageGot, 101)));
    page.close();
  });
});
