/**
 * `npm run bench:ui`: how the desktop UI copes with a connection log of
 * 100,000 rows, end to end on the real parts: a state directory whose log
 * holds N connections (written through the daemon's own ConnectionLog), the
 * real daemon, `tlspool ui --web --log-rows N` (the agent loads them over the
 * control socket and hands them to the page in its snapshot), and the built
 * renderer in Debian's Chromium (headless).
 *
 * Figures (wall clock, this machine, noisy; compare within one run):
 *  - snapshot_render_ms: page load → the grid counts all N rows
 *  - scroll_end_ms: scrollTop set to the end → the last row is in the DOM and in view
 *  - scroll_frame_p50_ms / p99: frame times while scrolling the whole log in 200 steps
 *  - dom_rows: rows in the DOM at the end (should be a screenful, not N)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { launchBrowser, RENDERER_DIR } from '../harness/browser';
import { stateWithLog } from '../harness/connection-log';
import { startDaemon } from '../harness/daemon';
import { startWebUi } from '../harness/web-ui';

const N = Number(process.argv.find((a) => a.startsWith('--rows='))?.slice(7) ?? 100_000);
const TIMEOUT_MS = 180_000;

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
  const hardStop = setTimeout(() => {
    console.error('bench: over the time limit, giving up');
    process.exit(1);
  }, TIMEOUT_MS * 3);
  const figures: Record<string, number> = {};
  const dir = stateWithLog(N, 'tlspool-bench-ui-');
  const daemon = await startDaemon({ dir });
  const ui = await startWebUi(['--attach', '--socket', daemon.socket, '--log-rows', String(N)]);
  const session = await launchBrowser({ width: 1280, height: 800 });
  const { page } = session;
  try {
    // 1. Page load: the agent's snapshot holds the N most recent connections.
    const start = Date.now();
    await page.goto(ui.url.href);
    await page.waitForFunction(SHOWS_ALL, [GRID, String(N + 1)] as [string, string], { timeout: TIMEOUT_MS, polling: 'raf' });
    figures.snapshot_render_ms = Date.now() - start;

    // 2. Jump to the end: the oldest row (the last one) must be rendered and in view.
    figures.scroll_end_ms = await page.evaluate<number>(SCROLL_TO_END);

    // 3. Scroll from top to bottom in 200 steps, one per frame, and time the frames.
    const frames = await page.evaluate<number[]>(SCROLL_THROUGH);
    frames.sort((a, b) => a - b);
    figures.scroll_frame_p50_ms = frames[Math.floor(frames.length * 0.5)];
    figures.scroll_frame_p99_ms = frames[Math.floor(frames.length * 0.99)];
    figures.dom_rows = await page.locator(`${GRID} [role="rowgroup"]:nth-child(2) [role="row"]`).count();
  } finally {
    clearTimeout(hardStop);
    await session.close();
    await ui.stop();
    await daemon.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  console.log(`desktop UI with ${N.toLocaleString('en')} connection rows (real daemon and agent, headless Chromium)`);
  for (const [k, v] of Object.entries(figures)) console.log(`  ${k.padEnd(22)} ${Math.round(v * 10) / 10}`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.stack : e);
  process.exit(1);
});
