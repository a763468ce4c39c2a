/**
 * `npm run bench:ui`: how the built renderer (dist/ui) copes with a
 * connection log of 100,000 rows, in Debian's Chromium (headless).
 *
 * This measures the renderer alone, so the agent is a fake: this process
 * serves dist/ui over HTTP and plays the agent's WebSocket bridge
 * (ws-protocol.ts) in-process, answering getState and pushing
 * synthetic `connection` events. No daemon is involved.
 *
 * Figures (wall clock, this machine, noisy; compare within one run):
 *  - snapshot_render_ms: page load with a getState of N rows → grid shows N rows
 *  - push_render_ms: N `connection` events pushed one by one → grid shows N rows
 *  - scroll_end_ms: scrollTop set to the end → the last row is in the DOM and in view
 *  - scroll_frame_p50_ms / p99: frame times while scrolling the whole log in 200 steps
 *  - dom_rows: rows in the DOM at the end (should be a screenful, not N)
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import type { ConnectionRecord, Settings } from '../daemon/src/control/api';
import type { UiEvent, UiState } from '../daemon/src/control/desktop-api';
import type { WsRequest, WsServerMessage } from '../daemon/src/control/ws-protocol';
import { launchBrowser, RENDERER_DIR } from '../test/helpers/browser';

const N = Number(process.argv.find((a) => a.startsWith('--rows='))?.slice(7) ?? 100_000);
const TOKEN = 'bench-token';
const TIMEOUT_MS = 180_000;

const SETTINGS: Settings = {
  pinEntryTimeout: 120,
  pinCacheIdleTtl: 900,
  pinCacheMaxTtl: 28800,
  validationCacheTtl: 300,
  approvalTimeout: 60,
  defaultDisclosure: 'deny',
};

function record(id: number, t0: number): ConnectionRecord {
  const done = id % 3 !== 0;
  return {
    id,
    role: id % 2 ? 'client' : 'server',
    transport: 'tls',
    requester: { pid: 1000 + (id % 50), uid: 1000, gid: 1000, executable: `/usr/bin/app${id % 7}` },
    state: done ? 'closed' : 'established',
    localid: 'alice@example.org',
    remoteid: `host${id % 1000}.example.net`,
    version: 'TLS1.3',
    cipher: 'TLS_AES_128_GCM_SHA256',
    peerChain: [],
    startedAt: new Date(t0 + id * 10).toISOString(),
    establishedAt: new Date(t0 + id * 10 + 5).toISOString(),
    endedAt: done ? new Date(t0 + id * 10 + 900).toISOString() : undefined,
    bytesIn: id * 37,
    bytesOut: id * 11,
  };
}

function state(connections: ConnectionRecord[]): UiState {
  return {
    daemon: { up: true, mode: 'attached', message: 'bench' },
    pinPrompts: [],
    approvals: [],
    connections,
    identities: [],
    tokens: [],
    rules: [],
    settings: SETTINGS,
    lastNotice: null,
  };
}

/** The fake agent: static files plus the bridge; `onClient` decides what the page gets. */
async function serve(snapshotRows: ConnectionRecord[], onClient: (ws: WebSocket) => void): Promise<{ url: string; close(): Promise<void> }> {
  const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml' };
  const server = http.createServer((req, res) => {
    const rel = new URL(req.url ?? '/', 'http://x').pathname;
    const file = path.join(RENDERER_DIR, path.normalize(rel === '/' ? '/index.html' : rel));
    if (!file.startsWith(RENDERER_DIR) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': types[path.extname(file)] ?? 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
  const wss = new WebSocketServer({ server, path: '/ws' });
  wss.on('connection', (ws) => {
    ws.on('message', (data) => {
      const req = JSON.parse(String(data)) as WsRequest;
      const reply: WsServerMessage =
        req.method === 'getState' ? { id: req.id, result: state(snapshotRows) } : { id: req.id, error: { message: 'not in the bench', code: 'ENOSYS' } };
      ws.send(JSON.stringify(reply));
      if (req.method === 'getState') onClient(ws);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/?token=${TOKEN}`,
    close: () =>
      new Promise<void>((r) => {
        for (const c of wss.clients) c.terminate();
        wss.close();
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

const GRID = '[role="grid"][aria-label="Connections"]';
/** Browser-side code is text here: this file compiles without the DOM types. */
/** Polled in the page (a function, not text: the page's CSP forbids eval). */
type MiniDocument = { querySelector(s: string): { getAttribute(a: string): string | null } | null };
const SHOWS_ALL = ([grid, rowcount]: [string, string]): boolean =>
  (globalThis as unknown as { document: MiniDocument }).document.querySelector(grid)?.getAttribute('aria-rowcount') === rowcount;
const SCROLL_TO_END = `(async () => {
  const grid = document.querySelector('${GRID}');
  const begin = performance.now();
  grid.scrollTop = grid.scrollHeight;
  for (;;) {
    await new Promise((r) => requestAnimationFrame(r));
    const last = grid.querySelector('[aria-rowindex="${N + 1}"]');
    if (last) {
      const g = grid.getBoundingClientRect();
      const r = last.getBoundingClientRect();
      if (r.bottom <= g.bottom + 1 && r.top >= g.top) return performance.now() - begin;
    }
    if (performance.now() - begin > 30000) throw new Error('the last row never showed');
  }
})()`;
const SCROLL_THROUGH = `(async () => {
  const grid = document.querySelector('${GRID}');
  grid.scrollTop = 0;
  await new Promise((r) => requestAnimationFrame(r));
  const out = [];
  let prev = performance.now();
  for (let i = 1; i <= 200; i++) {
    grid.scrollTop = (grid.scrollHeight * i) / 200;
    await new Promise((r) => requestAnimationFrame(r));
    const now = performance.now();
    out.push(now - prev);
    prev = now;
  }
  return out;
})()`;

async function main(): Promise<void> {
  if (!fs.existsSync(path.join(RENDERER_DIR, 'index.html'))) throw new Error('no dist/ui; run: npm run build:renderer');
  const t0 = Date.now() - N * 10;
  const rows = Array.from({ length: N }, (_, i) => record(N - i, t0)); // most recent first
  const figures: Record<string, number> = {};
  const session = await launchBrowser({ width: 1280, height: 800 });
  const { page } = session;
  const hardStop = setTimeout(() => {
    console.error('bench: over the time limit, giving up');
    process.exit(1);
  }, TIMEOUT_MS * 3);
  try {
    // 1. A snapshot of N rows at page load.
    let agent = await serve(rows, () => undefined);
    const start = Date.now();
    await page.goto(agent.url);
    await page.waitForFunction(SHOWS_ALL, [GRID, String(N + 1)] as [string, string], { timeout: TIMEOUT_MS, polling: 'raf' });
    figures.snapshot_render_ms = Date.now() - start;
    await agent.close();

    // 2. The same rows pushed one event each after an empty snapshot.
    let pushedAt = 0;
    agent = await serve([], (ws) => {
      pushedAt = Date.now();
      for (let i = N - 1; i >= 0; i--) ws.send(JSON.stringify({ event: { type: 'connection', connection: rows[i] } satisfies UiEvent }));
    });
    await page.goto(agent.url);
    await page.waitForFunction(SHOWS_ALL, [GRID, String(N + 1)] as [string, string], { timeout: TIMEOUT_MS, polling: 'raf' });
    figures.push_render_ms = Date.now() - pushedAt;

    // 3. Jump to the end: the oldest row (id 1, the last one) must be rendered and in view.
    figures.scroll_end_ms = await page.evaluate<number>(SCROLL_TO_END);

    // 4. Scroll from top to bottom in 200 steps, one per frame, and time the frames.
    const frames = await page.evaluate<number[]>(SCROLL_THROUGH);
    frames.sort((a, b) => a - b);
    figures.scroll_frame_p50_ms = frames[Math.floor(frames.length * 0.5)];
    figures.scroll_frame_p99_ms = frames[Math.floor(frames.length * 0.99)];
    figures.dom_rows = await page.locator(`${GRID} [role="rowgroup"]:nth-child(2) [role="row"]`).count();
    await agent.close();
  } finally {
    clearTimeout(hardStop);
    await session.close();
  }
  console.log(`renderer with ${N.toLocaleString('en')} connection rows (fake in-process agent, headless Chromium)`);
  for (const [k, v] of Object.entries(figures)) console.log(`  ${k.padEnd(22)} ${Math.round(v * 10) / 10}`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.stack : e);
  process.exit(1);
});
