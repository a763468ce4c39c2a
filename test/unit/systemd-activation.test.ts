/** Reading the sockets systemd passes (LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES) the way sd_listen_fds(3) defines them. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ActivationError, socketsFromSystemd } from '../../src/daemon/systemd/activation';

const PID = 4242;

test('named sockets are taken by name, from fd 3 on, and the variables leave the environment', () => {
  const env: NodeJS.ProcessEnv = { LISTEN_PID: String(PID), LISTEN_FDS: '2', LISTEN_FDNAMES: 'control:tlspool', OTHER: 'x' };
  assert.deepEqual(socketsFromSystemd(env, PID), { control: 3, pool: 4 });
  assert.deepEqual(env, { OTHER: 'x' });
});

test('one socket without a name is the pool socket', () => {
  assert.deepEqual(socketsFromSystemd({ LISTEN_PID: String(PID), LISTEN_FDS: '1' }, PID), { pool: 3 });
});

test('sockets meant for another process, or none, are not taken (and still removed)', () => {
  for (const env of [{ LISTEN_PID: String(PID + 1), LISTEN_FDS: '1' }, { LISTEN_FDS: '1' }, { LISTEN_PID: String(PID), LISTEN_FDS: '0' }, {}] as NodeJS.ProcessEnv[]) {
    assert.equal(socketsFromSystemd(env, PID), undefined, JSON.stringify(env));
    assert.deepEqual(env, {});
  }
});

test('sets of sockets the daemon cannot tell apart are refused with what to set', () => {
  const cases: Array<[NodeJS.ProcessEnv, RegExp]> = [
    [{ LISTEN_FDS: '2' }, /systemd passed 2 sockets without names \(no LISTEN_FDNAMES\); tlspool daemon takes "tlspool" .* and "control"/],
    [{ LISTEN_FDS: '2', LISTEN_FDNAMES: 'tlspool:tlspool' }, /two sockets named "tlspool" \(fd 3 and 4\)/],
    [{ LISTEN_FDS: '1', LISTEN_FDNAMES: 'tlspool.socket' }, /a socket named "tlspool.socket" \(fd 3\)/],
    [{ LISTEN_FDS: '2', LISTEN_FDNAMES: 'tlspool' }, /LISTEN_FDNAMES names 1 sockets but LISTEN_FDS says 2/],
    [{ LISTEN_FDS: 'many' }, /LISTEN_FDS is "many"/],
  ];
  for (const [env, message] of cases) {
    assert.throws(() => socketsFromSystemd({ LISTEN_PID: String(PID), ...env }, PID), (e: Error) => e instanceof ActivationError && message.test(e.message));
  }
});
