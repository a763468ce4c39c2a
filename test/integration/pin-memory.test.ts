/**
 * A PIN typed in the web UI passes through the agent behind it (`tlspool ui
 * --web`): the WebSocket frame, the answerPin, the PINENTRY packet to the
 * pool, the native send queue. Once sent, no copy of it is left anywhere in
 * that process's memory: every writable mapping is read through
 * /proc/PID/mem (the test runs with CAP_SYS_PTRACE, which an undumpable
 * process does not keep out) and searched for the PIN, as bytes and as
 * UTF-16 (V8's two-byte strings).
 */
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import WebSocket from 'ws';
import { PoolClient } from '../../src/client/pool-client';
import type { PinPromptView } from '../../src/contract/desktop';
import type { WsServerMessage } from '../../src/contract/ws';
import { CLIENT_EMAIL } from '../../harness/pki';
import type { Peer } from '../../harness/peers';
import { PIN, startRevServer, startTlsTo, startTokenPool, talk, type TokenPool } from '../../harness/token-pool';
import { waitFor } from '../../harness/wait';
import { startWebUi, type WebUi } from '../../harness/web-ui';

const GUARD = { timeout: 60_000 };
/** A wrong PIN, long and unlike anything else in the process, so that finding it means a copy of it. */
const WRONG_PIN = 'Wq7#pin-in-transit-9Zk';

let pool: TokenPool | undefined;
let ui: WebUi | undefined;
let peer: Peer | undefined;
let cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
  await ui?.stop();
  ui = undefined;
  await peer?.stop();
  peer = undefined;
  await pool?.stop();
  pool = undefined;
});

/** Where in the writable memory of `pid` each needle occurs (as "needle@address"); empty when nowhere. */
function findInMemory(pid: number, needles: Buffer[]): string[] {
  const found: string[] = [];
  const longest = Math.max(...needles.map((n) => n.length));
  const chunk = Buffer.alloc(8 << 20);
  const mem = fs.openSync(`/proc/${pid}/mem`, 'r');
  try {
    for (const line of fs.readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n')) {
      const m = /^([0-9a-f]+)-([0-9a-f]+) rw/.exec(line);
      if (!m) continue;
      const end = parseInt(m[2]!, 16);
      // Chunks overlap by a needle's length, so none is missed at a border.
      for (let at = parseInt(m[1]!, 16); at < end; at += chunk.length - longest) {
        let n: number;
        try {
          n = fs.readSync(mem, chunk, 0, Math.min(chunk.length, end - at), at);
        } catch {
          break; // a mapping the kernel will not read (or gone since)
        }
        const seen = chunk.subarray(0, n);
        for (const needle of needles) {
          for (let i = seen.indexOf(needle); i >= 0; i = seen.indexOf(needle, i + 1)) found.push(`${needle.toString('latin1')}@0x${(at + i).toString(16)}`);
        }
        if (n < chunk.length) break;
      }
    }
  } finally {
    fs.closeSync(mem);
    chunk.fill(0);
  }
  return [...new Set(found)];
}

function forms(pin: string): Buffer[] {
  return [Buffer.from(pin, 'latin1'), Buffer.from(pin, 'utf16le')];
}

describe('a PIN answered through the web UI', () => {
  test('leaves no copy of itself in the UI process once sent: a wrong PIN, then the right one', GUARD, async () => {
    pool = await startTokenPool();
    ui = await startWebUi(['--attach', '--socket', pool.daemon.socket]);
    await waitFor('the UI registered for PIN entry', () => /PIN entry program registered/.test(pool!.daemon.logs()));
    const ws = new WebSocket(`ws://127.0.0.1:${ui.port}/ws?token=${ui.token}`, { origin: `http://127.0.0.1:${ui.port}` });
    cleanups.push(() => ws.close());
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const got: WsServerMessage[] = [];
    ws.on('message', (d) => got.push(JSON.parse(d.toString()) as WsServerMessage));
    const answered = (id: number) => waitFor(`answer ${id}`, () => got.find((m) => 'id' in m && m.id === id));
    const prompt = (attempt: number) =>
      waitFor(`PIN prompt, attempt ${attempt}`, () => {
        for (const m of got) {
          if (!('event' in m) || m.event.type !== 'pin-prompts') continue;
          const p = m.event.pinPrompts.find((v: PinPromptView) => v.attempt === attempt);
          if (p) return p;
        }
        return undefined;
      });

    const app = PoolClient.connect(pool.daemon.socket);
    cleanups.push(() => app.close());
    peer = await startRevServer();
    const handshake = startTlsTo(app, peer.port, CLIENT_EMAIL);
    const approvals = await waitFor('a pushed approval', () => {
      for (const m of got) if ('event' in m && m.event.type === 'approvals' && m.event.approvals.length > 0) return m.event.approvals;
      return undefined;
    });
    ws.send(JSON.stringify({ id: 1, method: 'decideApproval', params: { id: approvals[0]!.id, decision: 'allow', lifetime: 'once' } }));

    // The wrong PIN reached the pool: it asks again, saying the last one was wrong.
    ws.send(JSON.stringify({ id: 2, method: 'answerPin', params: { id: (await prompt(1)).id, pin: WRONG_PIN } }));
    assert.deepEqual(await answered(2), { id: 2, result: { ok: true } });
    const again = await prompt(2);
    assert.deepEqual(findInMemory(ui.proc.pid!, forms(WRONG_PIN)), [], 'no copy of the wrong PIN');

    ws.send(JSON.stringify({ id: 3, method: 'answerPin', params: { id: again.id, pin: PIN } }));
    assert.deepEqual(await answered(3), { id: 3, result: { ok: true } });
    assert.equal(await talk((await handshake).fd), 'cba\n');
    assert.deepEqual(findInMemory(ui.proc.pid!, [...forms(WRONG_PIN), ...forms(PIN)]), [], 'no copy of either PIN');
  });
});
