/**
 * The desktop agent against the real daemon: it is the PIN entry program
 * (V1 PINENTRY on the pool socket), shows each prompt in its UiState, sends
 * what a person types or cancels, and follows the daemon going away and
 * coming back. Keys are on a SoftHSM2 token made for each test; the peer is
 * openssl s_server. The agent is also the approval agent on the control
 * socket, so showing alice's certificate is approved first (by the test,
 * through the same dispatch the UI uses); PIN entry itself works without the
 * control socket.
 */
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DesktopAgent } from '../../src/desktop/agent/agent';
import { dispatch } from '../../src/desktop/agent/dispatch';
import { Failure } from '../../src/model/failure';
import type { UiEvent } from '../../src/contract/desktop';
import { startDaemon, type TestDaemon } from '../../harness/daemon';
import type { Peer } from '../../harness/peers';
import { CLIENT_EMAIL } from '../../harness/pki';
import { PIN, startRevServer, startTlsTo, startTokenPool, talk, TOKEN, type TokenPool } from '../../harness/token-pool';
import { waitFor } from '../../harness/wait';

const GUARD = { timeout: 90_000 };

let pool: TokenPool | undefined;
let daemon: TestDaemon | undefined;
let agent: DesktopAgent | undefined;
let peers: Peer[] = [];
afterEach(async () => {
  agent?.stop();
  agent = undefined;
  for (const p of peers) await p.stop();
  peers = [];
  await pool?.stop();
  pool = undefined;
  await daemon?.stop();
  daemon = undefined;
});

function startAgent(socket: string, controlSocket?: string): DesktopAgent {
  agent = new DesktopAgent({ socket, controlSocket, mode: 'attached', backoffMs: { first: 50, max: 500 } });
  agent.start();
  return agent;
}

/** Allow, once, every approval the agent is asked, as a person clicking "Allow" would. */
function allowApprovals(a: DesktopAgent): void {
  const answered = new Set<string>();
  a.subscribe((e) => {
    if (e.type !== 'approvals') return;
    for (const q of e.approvals) {
      if (answered.has(q.id)) continue;
      answered.add(q.id);
      void dispatch(a, 'decideApproval', { id: q.id, decision: 'allow', lifetime: 'once' });
    }
  });
}

/** An agent registered as the pool's PIN entry program. */
async function agentOnTokenPool(pin: string[] = []): Promise<DesktopAgent> {
  pool = await startTokenPool({ pin });
  const a = startAgent(pool.daemon.socket);
  allowApprovals(a);
  await waitFor('the agent registered for PIN entry', () => /PIN entry program registered/.test(pool!.daemon.logs()));
  return a;
}

/** STARTTLS_CLIENT as alice@example.test, whose key is on the locked token, to a fresh openssl s_server. */
async function aliceStartTls() {
  const srv = await startRevServer();
  peers.push(srv);
  return startTlsTo(pool!.client(), srv.port, CLIENT_EMAIL);
}

describe('desktop agent', () => {
  test('without a control socket the daemon shows as up, with a message saying the control socket is unavailable', GUARD, async () => {
    daemon = await startDaemon();
    const a = startAgent(daemon.socket, `${daemon.dir}/no-such-control.sock`);
    await waitFor('daemon up', () => a.state.daemon.up);
    await waitFor('the control socket reported missing', () => /control socket is unavailable/.test(a.state.daemon.message));
    assert.equal(a.state.daemon.mode, 'attached');
  });

  test('a STARTTLS whose key is on a locked token shows a PIN prompt in the state; answerPin completes the handshake', GUARD, async () => {
    const a = await agentOnTokenPool();
    const events: UiEvent[] = [];
    a.subscribe((e) => events.push(e));
    const handshake = aliceStartTls();
    const view = await waitFor('a PIN prompt', () => a.state.pinPrompts[0]);
    assert.equal(view.tokenLabel, TOKEN);
    assert.equal(view.manufacturer, 'SoftHSM project');
    assert.equal(view.attempt, 1);
    assert.match(view.prompt, /PIN for token "work"/);
    assert.ok(Date.parse(view.expiresAt) > Date.now(), `expiresAt ${view.expiresAt} lies ahead`);
    assert.ok(events.some((e) => e.type === 'pin-prompts' && e.pinPrompts.length === 1), 'subscribers were told of the prompt');

    assert.deepEqual(await dispatch(a, 'answerPin', { id: view.id, pin: PIN }), { ok: true });
    const r = await handshake;
    assert.equal(r.localid, CLIENT_EMAIL);
    assert.equal(await talk(r.fd), 'cba\n');
    assert.deepEqual(a.state.pinPrompts, []);
    assert.ok(!a.state.daemon.message.includes(PIN) && !JSON.stringify(events).includes(PIN), 'the PIN is in no state or event');
    assert.doesNotMatch(pool!.daemon.logs(), new RegExp(PIN));
  });

  test('cancelPin: the application\'s STARTTLS gets ECANCELED and the prompt leaves the state', GUARD, async () => {
    const a = await agentOnTokenPool();
    const handshake = aliceStartTls();
    const view = await waitFor('a PIN prompt', () => a.state.pinPrompts[0]);
    await dispatch(a, 'cancelPin', { id: view.id });
    await assert.rejects(handshake, (e: unknown) => e instanceof Failure && e.code === 'ECANCELED');
    assert.deepEqual(a.state.pinPrompts, []);
  });

  test('a prompt nobody answers in time leaves the state when the pool gives up, and the next STARTTLS is asked again', GUARD, async () => {
    const a = await agentOnTokenPool(['entry_timeout: 1']);
    const first = aliceStartTls();
    const view = await waitFor('a PIN prompt', () => a.state.pinPrompts[0]);
    await assert.rejects(first, (e: unknown) => e instanceof Failure && e.code === 'ETIMEDOUT');
    await waitFor('the prompt dropped', () => a.state.pinPrompts.length === 0);
    await assert.rejects(dispatch(a, 'answerPin', { id: view.id, pin: PIN }), { code: 'ENOENT' });

    const second = aliceStartTls();
    const next = await waitFor('a new PIN prompt', () => a.state.pinPrompts[0]);
    assert.notEqual(next.id, view.id);
    await dispatch(a, 'answerPin', { id: next.id, pin: PIN });
    assert.equal(await talk((await second).fd), 'cba\n');
  });

  test('answering a prompt that is no longer waiting is refused with ENOENT, and bad params with EINVAL', GUARD, async () => {
    daemon = await startDaemon();
    const a = startAgent(daemon.socket);
    await assert.rejects(dispatch(a, 'answerPin', { id: 'nope', pin: '1234' }), { code: 'ENOENT' });
    await assert.rejects(dispatch(a, 'answerPin', { id: 7 }), { code: 'EINVAL' });
    await assert.rejects(dispatch(a, 'getState', null), { code: 'EINVAL' });
    await assert.rejects(dispatch(a, 'rm -rf', {}), { code: 'ENOSYS' });
  });

  test('stopping the daemon flips the state to down; a daemon started again on the socket is found and PIN entry registered again', GUARD, async () => {
    daemon = await startDaemon();
    const dir = daemon.dir;
    const a = startAgent(daemon.socket);
    await waitFor('up', () => a.state.daemon.up);
    await waitFor('registered', () => /PIN entry program registered/.test(daemon!.logs()));
    await daemon.stop();
    await waitFor('down', () => !a.state.daemon.up);
    assert.match(a.state.daemon.message, /went away|cannot reach/);
    assert.equal(a.state.lastNotice?.level, 'error');

    daemon = await startDaemon({ dir });
    await waitFor('up again', () => a.state.daemon.up);
    await waitFor('registered again', () => /PIN entry program registered/.test(daemon!.logs()));
    assert.match(a.state.lastNotice?.text ?? '', /back/);
  });
});
