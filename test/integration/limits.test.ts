/**
 * The limits an attacker on the pool socket reaches first (issue 11): pending
 * STARTTLS per uid and in all, pool connections per uid and in all, the
 * process's descriptors, and the memory a client that never reads costs.
 * Each is met with a real daemon and real sockets: a TLS peer that accepts
 * TCP and never answers holds handshakes pending, prlimit lowers the
 * daemon's RLIMIT_NOFILE, and a raw connection sends PINGs without reading.
 *
 * Waits are bounded only to turn a hang into a failure: before the limits
 * existed, a STARTTLS past them stayed pending, and so did these tests.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { stringify as toYaml } from 'yaml';
import { PoolClient } from '../../src/client/pool-client';
import { Failure } from '../../src/model/failure';
import { connectUnix, type UnixConnection } from '../../src/addon/ipc';
import { decode, encode } from '../../src/protocol/codec';
import { TLSPOOL_IDENTITY_V1 } from '../../src/protocol';
import { Cmd } from '../../src/protocol/constants';
import { Framer } from '../../src/protocol/framer';
import { startDaemon, type TestDaemon } from '../../harness/daemon';
import { getPki, SERVER_NAME } from '../../harness/pki';
import { fdSummary } from '../../harness/pool-tls';
import { type Pool, startExamplePool, tcpConnect } from '../../harness/starttls';
import { rssKb } from '../../harness/traffic';
import { waitFor, waitForValue } from '../../harness/wait';

const GUARD = { timeout: 120_000 };
/** How long a request may take before the test calls it unanswered (a hang guard, not a speed target). */
const ANSWER_MS = 10_000;
const PEER = 'peer.example.test';

/** A TCP server that accepts and reads, and never answers: a TLS peer that holds a handshake pending. */
class SilentPeer {
  readonly sockets: net.Socket[] = [];
  /** Sockets on which the pool's ClientHello (any byte) arrived: their handshakes are running. */
  greeted = 0;

  private constructor(private readonly server: net.Server) {
    server.on('connection', (s) => {
      s.on('error', () => {});
      this.sockets.push(s);
      s.once('data', () => this.greeted++);
    });
  }

  static async open(): Promise<SilentPeer> {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return new SilentPeer(server);
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** Cut every connection: the handshakes on them end with ECONNRESET. */
  hangUp(): void {
    for (const s of this.sockets.splice(0)) s.destroy();
    this.greeted = 0;
  }

  close(): Promise<void> {
    this.hangUp();
    return new Promise((r) => this.server.close(() => r()));
  }
}

/** Resolves with the value, or rejects once `ms` passed without one: a hang guard. */
function within<T>(what: string, p: Promise<T>, ms = ANSWER_MS): Promise<T> {
  let timer: NodeJS.Timeout;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, guard]).finally(() => clearTimeout(timer));
}

/** The ERROR a request is answered with (fails if it succeeds or stays unanswered). */
async function refusal(what: string, p: Promise<unknown>): Promise<Failure> {
  try {
    await within(what, p);
  } catch (e) {
    if (e instanceof Failure) return e;
    throw e;
  }
  assert.fail(`${what}: expected an ERROR response`);
}

/** A STARTTLS_CLIENT to the silent peer: it stays pending until the peer hangs up. Settles to 'ok' or the errno. */
async function pendingStartTls(conn: PoolClient, peer: SilentPeer): Promise<{ settled: Promise<string> }> {
  const fd = await tcpConnect(peer.port);
  const settled = conn.starttls({ role: 'client', fd, remoteid: PEER }).then(
    (r) => (r.fd.close(), 'ok'),
    (e: unknown) => (e instanceof Failure ? e.code : `not a Failure: ${String(e)}`),
  );
  fd.close(); // the pool has its own copy now
  return { settled };
}

/** The daemon's log lines (JSON) whose msg is `msg`. */
function logLines(daemon: TestDaemon, msg: string): Array<Record<string, unknown>> {
  return daemon
    .logs()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((r) => r.msg === msg);
}

async function fdsBackTo(daemon: TestDaemon, fds: number, after: string): Promise<void> {
  try {
    await waitForValue(`daemon fd count after ${after}`, () => daemon.fdCount(), fds, 30_000);
  } catch (e) {
    throw new Error(`${(e as Error).message}; the daemon holds: ${fdSummary(daemon.pid)}`);
  }
}

/** The daemon's fd count once it has not changed for a while (a settle, not a timing assertion). */
async function steadyFdCount(daemon: TestDaemon): Promise<number> {
  let last = daemon.fdCount();
  for (let same = 0; same < 20; ) {
    await new Promise((r) => setTimeout(r, 25));
    const now = daemon.fdCount();
    same = now === last ? same + 1 : 0;
    last = now;
  }
  return last;
}

/** The lowest and highest of a few RSS samples (kB) over two seconds of quiet. */
async function rssRange(pid: number): Promise<{ min: number; max: number }> {
  const samples = [rssKb(pid)];
  for (let i = 0; i < 8; i++) {
    await new Promise((r) => setTimeout(r, 250));
    samples.push(rssKb(pid));
  }
  return { min: Math.min(...samples), max: Math.max(...samples) };
}

function limitsConfig(limits: Record<string, number>): string {
  return toYaml({ limits, tls: { system_trust: false, handshake_timeout: 600 } });
}

async function stopDaemon(daemon: TestDaemon): Promise<void> {
  const code = await daemon.stop();
  fs.rmSync(daemon.dir, { recursive: true, force: true });
  assert.equal(code, 0, `the daemon exited with ${code}:\n${daemon.logs().slice(-4000)}`);
}

describe('limits on pending STARTTLS', () => {
  let peer: SilentPeer;
  before(async () => {
    peer = await SilentPeer.open();
  });
  after(async () => {
    await peer.close();
  });

  for (const which of ['handshakes_per_uid', 'handshakes'] as const) {
    test(`past limits.${which} a STARTTLS gets EAGAIN at once, other requests are still answered, and the slots come back`, GUARD, async () => {
      const limit = 4;
      const daemon = await startDaemon({
        config: limitsConfig(which === 'handshakes_per_uid' ? { handshakes_per_uid: limit, handshakes: 64 } : { handshakes_per_uid: 64, handshakes: limit }),
      });
      const a = PoolClient.connect(daemon.socket);
      const b = PoolClient.connect(daemon.socket);
      const pinger = PoolClient.connect(daemon.socket);
      try {
        await Promise.all([a.ping(), b.ping(), pinger.ping()]);
        const fdsAtStart = daemon.fdCount();

        // The limit counts the uid's requests over all its connections, not one connection's.
        const held = [];
        for (let i = 0; i < limit; i++) held.push(await pendingStartTls(i % 2 ? a : b, peer));
        await waitFor('every held handshake reaching the peer', () => peer.greeted === limit, ANSWER_MS);

        const refused = [];
        for (const conn of [a, b, a]) {
          const { settled } = await pendingStartTls(conn, peer);
          refused.push(await within('a STARTTLS past the limit', settled));
        }
        assert.deepEqual(refused, ['EAGAIN', 'EAGAIN', 'EAGAIN']);
        const e = await refusal('STARTTLS past the limit', (async () => {
          const fd = await tcpConnect(peer.port);
          try {
            return await a.starttls({ role: 'client', fd, remoteid: PEER });
          } finally {
            fd.close();
          }
        })());
        assert.equal(e.code, 'EAGAIN');
        assert.match(e.message, new RegExp(`\\(limits\\.${which} ${limit}\\)`));
        assert.ok(Buffer.byteLength(e.message) <= 127, e.message);

        // Another connection, and the connections that were refused, are answered at once.
        assert.equal((await within('PING while the limit is reached', pinger.ping())).identity, TLSPOOL_IDENTITY_V1);
        assert.equal((await within('PING on a refused connection', a.ping())).identity, TLSPOOL_IDENTITY_V1);

        // One log line however many refusals (the rest are counted into the next one).
        const lines = logLines(daemon, 'limit reached').filter((l) => l.limit === `limits.${which}`);
        assert.equal(lines.length, 1, JSON.stringify(lines));
        assert.equal(lines[0]!.max, limit);

        // The held handshakes end when their peer hangs up, and their slots are free again.
        peer.hangUp();
        assert.deepEqual(await within('held handshakes', Promise.all(held.map((h) => h.settled))), Array(limit).fill('ECONNRESET'));
        const again = await pendingStartTls(a, peer);
        await waitFor('a new handshake reaching the peer', () => peer.greeted === 1, ANSWER_MS);
        peer.hangUp();
        assert.equal(await within('the new handshake', again.settled), 'ECONNRESET');
        await fdsBackTo(daemon, fdsAtStart, 'the handshakes ended');
      } finally {
        for (const c of [a, b, pinger]) c.close();
        peer.hangUp();
        await stopDaemon(daemon);
      }
    });
  }
});

describe('limits on pool connections', () => {
  for (const which of ['connections_per_uid', 'connections'] as const) {
    test(`past limits.${which} a connection's first request gets EUSERS and the connection is closed; a freed slot is taken again`, GUARD, async () => {
      const limit = 3;
      const daemon = await startDaemon({
        config: limitsConfig(which === 'connections_per_uid' ? { connections_per_uid: limit, connections: 64 } : { connections_per_uid: 64, connections: limit }),
      });
      const open: PoolClient[] = [];
      try {
        for (let i = 0; i < limit; i++) {
          const c = PoolClient.connect(daemon.socket);
          open.push(c);
          await within('PING within the limit', c.ping());
        }
        const fdsAtStart = daemon.fdCount();

        for (let round = 0; round < 2; round++) {
          const over = PoolClient.connect(daemon.socket);
          const ended = new Promise<void>((r) => over.onClose(() => r()));
          const e = await refusal('PING on a connection past the limit', over.ping());
          assert.equal(e.code, 'EUSERS');
          assert.match(e.message, new RegExp(`\\(limits\\.${which} ${limit}\\)`));
          assert.ok(Buffer.byteLength(e.message) <= 127, e.message);
          // The pool closes it after that answer.
          await within('the refused connection to be closed', ended);
          over.close();
        }
        // The connections within the limit go on as before.
        for (const c of open) assert.equal((await within('PING within the limit', c.ping())).identity, TLSPOOL_IDENTITY_V1);
        const lines = logLines(daemon, 'limit reached').filter((l) => l.limit === `limits.${which}`);
        assert.equal(lines.length, 1, JSON.stringify(lines));

        // A connection that leaves makes room for another.
        open.pop()!.close();
        let replaced: PoolClient | undefined;
        // The pool hears of the close on its own time: try until it has (a bounded poll).
        for (let i = 0; !replaced && i < 200; i++) {
          const c = PoolClient.connect(daemon.socket);
          try {
            await c.ping();
            replaced = c;
          } catch {
            c.close();
            await new Promise((r) => setTimeout(r, 20));
          }
        }
        assert.ok(replaced, 'a connection is served again once one left');
        open.push(replaced);
        await fdsBackTo(daemon, fdsAtStart, 'the refused connections');
      } finally {
        for (const c of open) c.close();
        await stopDaemon(daemon);
      }
    });
  }
});

describe('out of file descriptors', () => {
  let pool: Pool;
  let server: tls.Server;
  let port: number;
  before(async () => {
    pool = await startExamplePool();
    const pki = getPki();
    server = tls.createServer({ cert: pki.server.certPem, key: pki.server.keyPem }, (s) => {
      s.on('error', () => {});
      s.end('hello from the peer\n');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as net.AddressInfo).port;
  });
  after(async () => {
    await new Promise((r) => server.close(r));
    await pool?.stop();
  });

  test('a STARTTLS whose fd could not be received gets EMFILE, a full table is logged once, and the pool recovers', GUARD, async (t) => {
    const { daemon } = pool;
    const handshake = async (conn: PoolClient) => {
      const fd = await tcpConnect(port);
      try {
        const r = await within('STARTTLS', conn.starttls({ role: 'client', fd, remoteid: SERVER_NAME }));
        r.fd.close();
        return 'ok';
      } catch (e) {
        if (e instanceof Failure) return `${e.code}: ${e.message}`;
        throw e;
      } finally {
        fd.close();
      }
    };
    // A first handshake, so that everything made once (keys, trust, relay threads) is in place,
    // and the count once the pool has closed that connection's descriptors.
    assert.equal(await handshake(pool.client), 'ok');
    const fdsAtStart = await steadyFdCount(daemon);

    // A descriptor table with room for a few more than it holds now.
    const highest = Math.max(...fs.readdirSync(`/proc/${daemon.pid}/fd`).map(Number));
    const nofile = highest + 1 + 24;
    execFileSync('prlimit', ['--pid', String(daemon.pid), `--nofile=${nofile}:${nofile}`]);

    // Fill it with pool connections until accept() has no descriptor left.
    const fillers: PoolClient[] = [];
    let filled = 0;
    try {
      while (daemon.fdCount() < nofile) {
        const c = PoolClient.connect(daemon.socket);
        fillers.push(c);
        await within('PING while descriptors remain', c.ping());
      }
      filled = fillers.length;
      // One more waits in the listen backlog; the pool says why, once.
      const waiting = PoolClient.connect(daemon.socket);
      fillers.push(waiting);
      const waitingPing = waiting.ping();
      waitingPing.catch(() => {}); // awaited below; a failure before that must not go unhandled

      // A STARTTLS whose socket the kernel could not hand over is told so, not that it sent none.
      for (let i = 0; i < 3; i++) {
        const got = await handshake(pool.client);
        assert.match(got, /^EMFILE: /, got);
        assert.ok(Buffer.byteLength(got) - 'EMFILE: '.length <= 127, got);
        assert.match(got, /file descriptors.*try again later/);
      }
      await waitFor('the accept failure in the log', () => logLines(daemon, 'cannot accept connections').length > 0, ANSWER_MS);
      // Let the listener retry a few times (it backs off, it does not spin).
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(logLines(daemon, 'cannot accept connections').length, 1, 'one accept failure line so far');
      assert.equal(logLines(daemon, 'a descriptor sent with a request was lost').length, 1, 'one lost-descriptor line so far');
      assert.equal(daemon.proc.exitCode, null);

      // Free some descriptors: the waiting connection is accepted, and STARTTLS works again.
      for (const c of fillers.splice(0, 16)) if (c !== waiting) c.close();
      assert.equal((await within('the PING that waited in the backlog', waitingPing)).identity, TLSPOOL_IDENTITY_V1);
      assert.equal(await handshake(pool.client), 'ok');
      assert.equal(await handshake(waiting), 'ok');
    } finally {
      for (const c of fillers) c.close();
    }
    await fdsBackTo(daemon, fdsAtStart, 'the fillers left');
    // The lines that were held back are counted when the pool stops (or 10 s after the first).
    const code = await daemon.stop();
    assert.equal(code, 0);
    const accepts = logLines(daemon, 'cannot accept connections');
    const failures = accepts.reduce((n, l) => n + (typeof l.repeated === 'number' ? l.repeated : 1), 0);
    assert.ok(failures >= 2, `accept() was retried after backing off: ${JSON.stringify(accepts)}`);
    assert.equal(accepts[0]!.errno, 'EMFILE');
    const lost = logLines(daemon, 'a descriptor sent with a request was lost');
    assert.equal(lost.reduce((n, l) => n + (typeof l.repeated === 'number' ? l.repeated : 1), 0), 3, JSON.stringify(lost));
    t.diagnostic(`RLIMIT_NOFILE ${nofile}: ${filled} connections filled it, ${failures} accept failures in ${accepts.length} log lines, 3 lost fds in ${lost.length}`);
  });
});

describe('a client that never reads', () => {
  let daemon: TestDaemon;
  before(async () => {
    daemon = await startDaemon();
  });
  after(async () => {
    if (daemon) await stopDaemon(daemon);
  });

  /** `clients` raw connections that each send `pings` PINGs and read nothing; resolves once the daemon stopped reading them. */
  async function nonReaders(clients: number, pings: number): Promise<UnixConnection[]> {
    const conns: UnixConnection[] = [];
    for (let c = 0; c < clients; c++) {
      const conn = connectUnix(daemon.socket);
      conns.push(conn);
      for (let reqid = 1; reqid <= pings; reqid++) {
        conn.send(encode({ reqid, cbid: 0, cmd: Cmd.PING, ping: { YYYYMMDD_producer: `never-reads-${c}` } }));
      }
    }
    // The daemon reads until it holds as much output for them as it will; then the queues here stay as they are.
    let last = '';
    let same = 0;
    await waitFor(
      'the daemon to stop reading',
      () => {
        const now = conns.map((c) => c.queuedBytes).join(',');
        same = now === last ? same + 1 : 0;
        last = now;
        return same >= 30;
      },
      60_000,
    );
    assert.ok(
      conns.every((c) => c.queuedBytes > 0),
      'requests wait on the clients\' side',
    );
    return conns;
  }

  /** Now they read: every PING is answered, exactly once. */
  async function readAll(conns: UnixConnection[], pings: number): Promise<void> {
    const answered = await Promise.all(
      conns.map(
        (conn) =>
          new Promise<number>((resolve, reject) => {
            const framer = new Framer();
            const seen = new Set<number>();
            conn.start(
              (chunk, fds) => {
                for (const frame of framer.push(chunk, fds)) {
                  frame.fd?.close();
                  const p = decode(frame.bytes);
                  if (p.cmd !== Cmd.PING || seen.has(p.reqid)) reject(new Error(`unexpected answer ${JSON.stringify(p)}`));
                  seen.add(p.reqid);
                  if (seen.size === pings) resolve(seen.size);
                }
              },
              (err) => reject(err ?? new Error('the pool closed the connection')),
              376,
            );
          }),
      ),
    );
    assert.deepEqual(answered, Array(conns.length).fill(pings));
    for (const c of conns) c.close();
  }

  test('sending thousands of PINGs without reading the answers costs the daemon well under 1 MB each; all are answered once it reads', GUARD, async (t) => {
    const probe = PoolClient.connect(daemon.socket);
    await probe.ping();
    const fdsAtStart = daemon.fdCount();
    // Well more than the kernel's buffer and the pool's 64 KiB hold (the pool used to queue up to 4 MiB).
    const pings = 12_000;
    // An unmeasured round first: answering 20,000 PINGs grows the JavaScript heap once to what such
    // traffic needs, whoever sends it (the non-readers below make the daemon answer about 900 each).
    await readAll(await nonReaders(1, 20_000), 20_000);
    // The heap may still shrink when idle and grow again with the next traffic: the baseline is the
    // highest of a few samples, the held figure the lowest (garbage not yet collected is no cost per client).
    const before = await rssRange(daemon.pid);

    const clients = 16;
    const conns = await nonReaders(clients, pings);
    try {
      const held = await rssRange(daemon.pid);
      const perClient = Math.round((held.min - before.max) / clients);
      t.diagnostic(`daemon RSS ${before.min}..${before.max} -> ${held.min}..${held.max} kB with ${clients} clients not reading: ${perClient} kB each`);
      assert.ok(perClient < 1024, `the daemon's RSS grew by ${perClient} kB per non-reading client (${before.max} -> ${held.min} kB)`);
      // Other clients are served meanwhile.
      assert.equal((await within('PING from another client', probe.ping())).identity, TLSPOOL_IDENTITY_V1);
      await readAll(conns, pings);
    } finally {
      for (const c of conns) c.close();
    }
    probe.close();
    const again = PoolClient.connect(daemon.socket);
    await again.ping();
    await fdsBackTo(daemon, fdsAtStart, 'the non-reading clients left');
    again.close();
  });
});
