/**
 * tls.handshake_timeout against peers that never answer: a DTLS client over
 * UDP and over a datagram UNIX socketpair, a DTLS server whose client sends
 * no ClientHello, a TLS client to a TCP server that accepts but never speaks,
 * and a TLS server whose client connects and sends nothing. Each STARTTLS ends with ETIMEDOUT once the timeout has passed
 * (bounded only against hangs), the daemon burns next to no CPU while it
 * waits (DTLS retransmits on GnuTLS's timers instead of polling), it stays up,
 * and it keeps no descriptor afterwards.
 */
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as net from 'node:net';
import type { Failure } from '../../src/model/failure';
import { socketpair } from '../../src/addon/ipc';
import { Errno, IpProto } from '../../src/protocol';
import { SERVER_NAME } from '../../harness/pki';
import { HANG_GUARD_MS, type Pool, rejection, startExamplePool, TcpListener, tcpConnect, udpConnect } from '../../harness/starttls';
import { waitForValue } from '../../harness/wait';

const TIMEOUT_S = 2;
/** CPU the daemon may use while one handshake waits TIMEOUT_S for nothing; a spinning loop uses ~TIMEOUT_S. */
const CPU_LIMIT_S = 0.5;

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** User plus system CPU seconds the process used so far (all its threads). */
function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) in parentheses; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/**
 * Runs a STARTTLS that should time out: its ERROR, how long it took and the
 * daemon's CPU meanwhile. Waits at most HANG_GUARD_MS (then fails, saying how
 * much CPU went by in that time).
 */
async function timesOut(pool: Pool, starttls: () => Promise<unknown>): Promise<{ err: Failure; seconds: number; cpu: number }> {
  const pid = pool.daemon.pid;
  const cpu0 = cpuSeconds(pid);
  const t0 = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<'hang'>((resolve) => (timer = setTimeout(() => resolve('hang'), HANG_GUARD_MS)));
  const outcome = await Promise.race([rejection(starttls()), hang]).finally(() => clearTimeout(timer));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(pid) - cpu0;
  if (outcome === 'hang') {
    assert.fail(`no answer within ${seconds.toFixed(1)} s (handshake_timeout ${TIMEOUT_S} s); the daemon used ${cpu.toFixed(2)} s of CPU meanwhile`);
  }
  return { err: outcome, seconds, cpu };
}

function checkTimeout(t: TestContext, { err, seconds, cpu }: { err: Failure; seconds: number; cpu: number }, message: RegExp): void {
  t.diagnostic(`ETIMEDOUT after ${seconds.toFixed(2)} s; daemon CPU meanwhile ${cpu.toFixed(3)} s`);
  assert.equal(err.errno, Errno.ETIMEDOUT, `expected ETIMEDOUT, got ${err.code}: ${err.message}`);
  assert.match(err.message, message);
  // The whole message, cause and advice, fits the wire's 127 bytes (not cut off).
  assert.match(err.message, /tls\.handshake_timeout/);
  assert.ok(Buffer.byteLength(err.message) <= 127, `the message has ${Buffer.byteLength(err.message)} bytes: ${err.message}`);
  // Not before the timeout (a little slack for the clocks of two processes).
  assert.ok(seconds >= TIMEOUT_S - 0.1, `ETIMEDOUT after ${seconds.toFixed(2)} s, before the ${TIMEOUT_S} s timeout`);
  assert.ok(cpu < CPU_LIMIT_S, `the daemon used ${cpu.toFixed(2)} s of CPU during a ${seconds.toFixed(2)} s wait`);
}

describe('tls.handshake_timeout with a peer that never answers', () => {
  let pool: Pool;
  let fdsAtStart: number;

  before(async () => {
    pool = await startExamplePool({ handshake_timeout: TIMEOUT_S });
    fdsAtStart = pool.daemon.fdCount();
  });
  after(async () => {
    await pool.stop();
  });

  test('DTLS client to a UDP socket that never answers: ETIMEDOUT, retransmissions on a timer, no spinning', async (t) => {
    const silent = dgram.createSocket('udp4');
    let datagrams = 0;
    silent.on('message', () => datagrams++);
    await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
    try {
      const fd = await udpConnect(silent.address().port);
      try {
        const r = await timesOut(pool, () => pool.client.starttls({ role: 'client', fd, ipproto: IpProto.UDP, remoteid: SERVER_NAME }));
        checkTimeout(t, r, /^DTLS handshake timed out: no answer from the server /);
      } finally {
        fd.close();
      }
      // The ClientHello, and at least one retransmission after GnuTLS's first 1 s timer: the flight is resent, not given up.
      assert.ok(datagrams >= 2, `the silent peer got ${datagrams} datagrams`);
    } finally {
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  test('DTLS client on a datagram UNIX socketpair whose other end never answers: ETIMEDOUT, no spinning', async (t) => {
    const [ours, theirs] = socketpair('dgram');
    try {
      const r = await timesOut(pool, () => pool.client.starttls({ role: 'client', fd: ours, ipproto: IpProto.UDP, remoteid: SERVER_NAME }));
      checkTimeout(t, r, /^DTLS handshake timed out: no answer from the server /);
    } finally {
      ours.close();
      theirs.close();
    }
  });

  test('DTLS server whose client sends nothing (no ClientHello, so no retransmission timer): ETIMEDOUT, no spinning', async (t) => {
    const silent = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
    try {
      const fd = await udpConnect(silent.address().port);
      try {
        const r = await timesOut(pool, () => pool.client.starttls({ role: 'server', fd, ipproto: IpProto.UDP, localid: SERVER_NAME }));
        checkTimeout(t, r, /^DTLS handshake timed out: no answer from the client /);
      } finally {
        fd.close();
      }
    } finally {
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  test('TLS client to a TCP server that accepts and never speaks: ETIMEDOUT, no spinning', async (t) => {
    const sockets = new Set<net.Socket>();
    const server = net.createServer((s) => {
      sockets.add(s);
      s.on('error', () => {});
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const fd = await tcpConnect((server.address() as net.AddressInfo).port);
      try {
        checkTimeout(t, await timesOut(pool, () => pool.client.starttls({ role: 'client', fd, remoteid: SERVER_NAME })), /^TLS handshake timed out: no answer from the server /);
      } finally {
        fd.close();
      }
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  test('TLS server whose client connects and sends nothing: ETIMEDOUT, no spinning', async (t) => {
    const listener = await TcpListener.open();
    const client = net.connect(listener.port, '127.0.0.1');
    client.on('error', () => {});
    try {
      const fd = await listener.accept();
      try {
        checkTimeout(t, await timesOut(pool, () => pool.client.starttls({ role: 'server', fd, localid: SERVER_NAME })), /^TLS handshake timed out: no answer from the client /);
      } finally {
        fd.close();
      }
    } finally {
      client.destroy();
      await listener.close();
    }
  });

  test('afterwards the daemon answers PING and holds no more descriptors than before', async () => {
    await pool.client.ping();
    await waitForValue('daemon fd count', () => pool.daemon.fdCount(), fdsAtStart);
  });
});
