/**
 * The daemon under load: many STARTTLS handshakes in a row and at once,
 * successes mixed with refusals, clients and TLS peers that vanish in the
 * middle, connections closed from either end. After each scenario every
 * request must have been answered (or cancelled, for clients that left),
 * the daemon must hold exactly the descriptors it held before, and it must
 * still answer PING.
 *
 * Sized for CI on a two-core machine; TLSPOOL_STRESS_SCALE=N multiplies the
 * counts. Waits are bounded only to turn a hang into a failure.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { PoolClient, type StartTlsResult } from '../../src/client/pool-client';
import { Failure } from '../../src/model/failure';
import type { OwnedFd } from '../../src/addon/ipc';
import { TLSPOOL_IDENTITY_V1 } from '../../src/protocol';
import { startDaemon, type TestDaemon } from '../../harness/daemon';
import { CLIENT_EMAIL, getPki, SERVER_NAME, type TestPki } from '../../harness/pki';
import { fdSummary, provision, TcpPairs } from '../../harness/pool-tls';
import { waitFor, waitForValue } from '../../harness/wait';
import { takeFd } from '../../src/addon/node-socket';

const SCALE = Math.max(1, Number(process.env.TLSPOOL_STRESS_SCALE ?? 1) || 1);
const SEQUENTIAL = 1000 * SCALE;
const CONCURRENT = 100 * SCALE;
const WRONG_ID = 'wrong.example.test';
/** Hang guards only: a stuck scenario fails instead of blocking CI. */
const GUARD = { timeout: 150_000 * SCALE };
const SETTLE_MS = 30_000;

type Outcome = { ok: true; result: StartTlsResult } | { ok: false; code: string; message: string };

/** Settle a STARTTLS into an outcome; anything but a Failure is a test failure. */
async function outcome(p: Promise<StartTlsResult>): Promise<Outcome> {
  try {
    return { ok: true, result: await p };
  } catch (e) {
    if (!(e instanceof Failure)) throw e;
    return { ok: false, code: e.code, message: e.message };
  }
}

function label(o: Outcome): string {
  return o.ok ? 'ok' : o.code;
}

function closeOutcome(o: Outcome): void {
  if (o.ok) o.result.fd.close();
}

/** Count labels: { ok: 800, EACCES: 200 }. */
function tally(labels: string[]): Record<string, number> {
  const t: Record<string, number> = {};
  for (const l of labels) t[l] = (t[l] ?? 0) + 1;
  return t;
}

/** A plaintext fd from the pool as a Node socket (Node owns the fd from now on). */
function plainSocket(fd: OwnedFd): net.Socket {
  const s = new net.Socket({ fd: fd.release(), readable: true, writable: true });
  s.on('error', () => {
    /* seen through 'close' */
  });
  return s;
}

function readUntil(sock: net.Socket, pattern: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const onData = (b: Buffer) => {
      got += b.toString('latin1');
      if (pattern.test(got)) {
        sock.off('data', onData);
        sock.off('end', onEnd);
        resolve(got);
      }
    };
    const onEnd = () => reject(new Error(`EOF before ${String(pattern)}; got ${JSON.stringify(got)}`));
    sock.on('data', onData);
    sock.once('end', onEnd);
  });
}

/** Resolves once the other side's end of the stream arrived (EOF) and the socket is closed. */
function closed(sock: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    if (sock.destroyed) return resolve();
    sock.once('close', () => resolve());
    sock.resume();
  });
}

/** Ends with a hang guard: never a timing assertion. */
function guarded<T>(what: string, p: Promise<T>, ms = SETTLE_MS * SCALE): Promise<T> {
  let timer: NodeJS.Timeout;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`hang guard: ${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([p, guard]).finally(() => clearTimeout(timer));
}

describe('the daemon under load', () => {
  let pki: TestPki;
  let daemon: TestDaemon;
  /** The applications' connections to the pool: one for the client side, one for the server side. */
  let clients: PoolClient;
  let servers: PoolClient;
  let pairs: TcpPairs;
  let baseline: number;

  /** Wait until the daemon holds exactly the fds it held at the start; on failure say which kinds it holds. */
  async function fdsBackToStart(what: string): Promise<void> {
    try {
      await waitForValue(`daemon fd count after ${what}`, () => daemon.fdCount(), baseline, SETTLE_MS);
    } catch (e) {
      throw new Error(`${(e as Error).message}; the daemon holds: ${fdSummary(daemon.pid)}`);
    }
  }

  async function stillServes(): Promise<void> {
    assert.equal(daemon.proc.exitCode, null, `the daemon exited:\n${daemon.logs().slice(-4000)}`);
    const fresh = PoolClient.connect(daemon.socket);
    try {
      assert.equal((await guarded('PING', fresh.ping())).identity, TLSPOOL_IDENTITY_V1);
    } finally {
      fresh.close();
    }
    assert.equal((await guarded('PING', clients.ping())).identity, TLSPOOL_IDENTITY_V1);
    assert.doesNotMatch(daemon.logs(), /"msg":"handler failed"/, 'a handler failed with an internal error');
  }

  /** One pool client ⇄ pool server handshake over a fresh loopback TCP pair. */
  function poolPair(
    pair: { client: OwnedFd; server: OwnedFd },
    remoteid: string,
    clientConn = clients,
    serverConn = servers,
  ): { client: Promise<Outcome>; server: Promise<Outcome> } {
    const client = outcome(clientConn.starttls({ role: 'client', fd: pair.client, localid: CLIENT_EMAIL, remoteid }));
    const server = outcome(serverConn.starttls({ role: 'server', fd: pair.server, localid: SERVER_NAME }));
    // The pool holds its own duplicates now: ours must go, or a vanished
    // session's TCP connection would stay open through us.
    pair.client.close();
    pair.server.close();
    return { client, server };
  }

  before(async () => {
    pki = getPki();
    daemon = await startDaemon();
    await provision(
      daemon,
      [
        { id: SERVER_NAME, certPath: pki.server.certPath, keyPath: pki.server.keyPath },
        { id: CLIENT_EMAIL, certPath: pki.client.certPath, keyPath: pki.client.keyPath },
      ],
      [pki.ca.certPath],
    );
    clients = PoolClient.connect(daemon.socket);
    servers = PoolClient.connect(daemon.socket);
    pairs = await TcpPairs.listen();
    // The fds of a daemon with its two applications connected, before any TLS.
    await clients.ping();
    await servers.ping();
    baseline = daemon.fdCount();
    // One handshake first, so that a setup problem shows here and not as a thousand failures.
    const first = poolPair(await pairs.pair(), SERVER_NAME);
    const [c, s] = await Promise.all([first.client, first.server]);
    assert.deepEqual([label(c), label(s)], ['ok', 'ok'], `first handshake: ${JSON.stringify([c, s])}`);
    closeOutcome(c);
    closeOutcome(s);
    await fdsBackToStart('one handshake');
  });

  after(async () => {
    clients?.close();
    servers?.close();
    await pairs?.close();
    if (daemon) {
      assert.equal(await daemon.stop(), 0, 'the daemon stops cleanly');
      fs.rmSync(daemon.dir, { recursive: true, force: true });
    }
  });

  test(`${SEQUENTIAL} sequential handshakes, every 5th with a wrong remoteid, leave no fd behind`, GUARD, async () => {
    const seen = { client: [] as string[], server: [] as string[] };
    const firstFailure: Record<string, string> = {};
    for (let i = 0; i < SEQUENTIAL; i++) {
      const wrong = i % 5 === 4;
      const h = poolPair(await pairs.pair(), wrong ? WRONG_ID : SERVER_NAME);
      const [c, s] = await guarded(`handshake ${i}`, Promise.all([h.client, h.server]));
      closeOutcome(c);
      closeOutcome(s);
      const want = wrong ? 'EACCES' : 'ok';
      for (const [side, o] of [['client', c], ['server', s]] as const) {
        seen[side].push(label(o));
        if (label(o) !== want && !firstFailure[side]) firstFailure[side] = `#${i}: ${JSON.stringify(o)}`;
      }
    }
    const bad = SEQUENTIAL / 5;
    const expected = { ok: SEQUENTIAL - bad, EACCES: bad };
    assert.deepEqual(tally(seen.client), expected, `client side; first unexpected: ${firstFailure.client}`);
    assert.deepEqual(tally(seen.server), expected, `server side; first unexpected: ${firstFailure.server}`);
    await fdsBackToStart(`${SEQUENTIAL} handshakes`);
    await stillServes();
  });

  test(`${CONCURRENT} concurrent handshakes with refusals and vanishing clients and peers: all answered, no fd left`, GUARD, async () => {
    type Kind =
      | 'ok'
      | 'wrong-remoteid'
      | 'client-app-vanishes'
      | 'server-app-vanishes'
      | 'server-app-vanishes-at-localid'
      | 'peer-cuts-clienthello'
      | 'peer-closes-at-once';
    const kinds: Kind[] = [
      'ok',
      'wrong-remoteid',
      'client-app-vanishes',
      'server-app-vanishes',
      'ok',
      'server-app-vanishes-at-localid',
      'peer-cuts-clienthello',
      'peer-closes-at-once',
    ];
    const cases = Array.from({ length: CONCURRENT }, (_, i) => kinds[i % kinds.length]!);

    // A server that accepts and closes at once: a TLS peer gone before answering.
    const rude = net.createServer((s) => s.destroy());
    await new Promise<void>((r) => rude.listen(0, '127.0.0.1', r));
    const rudePort = (rude.address() as net.AddressInfo).port;

    const started = cases.map(async (kind, i) => {
      switch (kind) {
        case 'ok':
        case 'wrong-remoteid': {
          const h = poolPair(await pairs.pair(), kind === 'ok' ? SERVER_NAME : WRONG_ID);
          return { kind, i, client: await h.client, server: await h.server };
        }
        case 'client-app-vanishes':
        case 'server-app-vanishes': {
          // That application's own pool connection closes right after its STARTTLS went out.
          const gone = PoolClient.connect(daemon.socket);
          const h =
            kind === 'client-app-vanishes'
              ? poolPair(await pairs.pair(), SERVER_NAME, gone, servers)
              : poolPair(await pairs.pair(), SERVER_NAME, clients, gone);
          gone.close();
          return { kind, i, client: await h.client, server: await h.server };
        }
        case 'server-app-vanishes-at-localid': {
          // The pool's session thread waits for the application's answer to a
          // LOCALID proposal, and the application disconnects instead.
          const gone = PoolClient.connect(daemon.socket);
          const pair = await pairs.pair();
          const client = outcome(clients.starttls({ role: 'client', fd: pair.client, localid: CLIENT_EMAIL, remoteid: SERVER_NAME }));
          const server = outcome(
            gone.starttls({
              role: 'server',
              fd: pair.server,
              onLocalId: () => {
                gone.close();
                return new Promise<string>(() => {});
              },
            }),
          );
          pair.client.close();
          pair.server.close();
          return { kind, i, client: await client, server: await server };
        }
        case 'peer-cuts-clienthello': {
          // A TLS client that sends half a ClientHello record and disappears.
          const { peer, accepted } = await pairs.connect();
          peer.on('error', () => {});
          const fd = takeFd(accepted);
          const server = outcome(servers.starttls({ role: 'server', fd, localid: SERVER_NAME }));
          fd.close();
          peer.write(Buffer.from([0x16, 0x03, 0x01, 0x01, 0x00, 0x01, 0x00, 0x00, 0xfc, 0x03, 0x03]), () => peer.destroy());
          return { kind, i, server: await server };
        }
        case 'peer-closes-at-once': {
          const sock = net.connect(rudePort, '127.0.0.1');
          await new Promise((r) => sock.once('connect', r));
          const fd = takeFd(sock);
          const client = outcome(clients.starttls({ role: 'client', fd, localid: CLIENT_EMAIL, remoteid: SERVER_NAME }));
          fd.close();
          return { kind, i, client: await client };
        }
      }
    });
    const results = await guarded(`${CONCURRENT} concurrent handshakes`, Promise.all(started), SETTLE_MS * 2 * SCALE);
    rude.close();

    const byKind = new Map<Kind, { client: string[]; server: string[] }>();
    for (const r of results) {
      if (r.client) closeOutcome(r.client);
      if (r.server) closeOutcome(r.server);
      const k = byKind.get(r.kind) ?? { client: [], server: [] };
      if (r.client) k.client.push(label(r.client));
      if (r.server) k.server.push(label(r.server));
      byKind.set(r.kind, k);
    }
    const messages = new Set<string>();
    for (const r of results) {
      for (const [side, o] of [['client', r.client], ['server', r.server]] as const) {
        if (o && !o.ok) messages.add(`${r.kind} ${side}: ${o.code} ${o.message}`);
      }
    }
    const report =
      JSON.stringify(Object.fromEntries([...byKind].map(([k, v]) => [k, { client: tally(v.client), server: tally(v.server) }]))) +
      `\nfailures seen:\n${[...messages].sort().join('\n')}`;
    const only = (labels: string[], allowed: string[]) => labels.every((l) => allowed.includes(l));
    const n = (kind: Kind) => cases.filter((k) => k === kind).length;
    const got = (kind: Kind) => byKind.get(kind) ?? { client: [], server: [] };

    assert.deepEqual(tally(got('ok').client), { ok: n('ok') }, report);
    assert.deepEqual(tally(got('ok').server), { ok: n('ok') }, report);
    assert.deepEqual(tally(got('wrong-remoteid').client), { EACCES: n('wrong-remoteid') }, report);
    assert.deepEqual(tally(got('wrong-remoteid').server), { EACCES: n('wrong-remoteid') }, report);
    // The vanished application's own request is cancelled on its side (the
    // client library says ECONNRESET: its pool connection is gone). The other
    // application gets an answer: success if the handshake was through before
    // the pool noticed, else the errno of the connection its peer dropped.
    const peerGone = ['ECONNRESET', 'EPIPE'];
    assert.deepEqual(tally(got('client-app-vanishes').client), { ECONNRESET: n('client-app-vanishes') }, report);
    assert.ok(only(got('client-app-vanishes').server, ['ok', ...peerGone]), report);
    assert.deepEqual(tally(got('server-app-vanishes').server), { ECONNRESET: n('server-app-vanishes') }, report);
    assert.ok(only(got('server-app-vanishes').client, ['ok', ...peerGone]), report);
    assert.deepEqual(tally(got('server-app-vanishes-at-localid').server), { ECONNRESET: n('server-app-vanishes-at-localid') }, report);
    assert.ok(only(got('server-app-vanishes-at-localid').client, peerGone), report);
    assert.deepEqual(tally(got('peer-cuts-clienthello').server), { ECONNRESET: n('peer-cuts-clienthello') }, report);
    assert.deepEqual(tally(got('peer-closes-at-once').client), { ECONNRESET: n('peer-closes-at-once') }, report);

    await fdsBackToStart(`${CONCURRENT} concurrent handshakes`);
    await stillServes();
  });

  test(`the daemon answers PING while ${CONCURRENT} handshakes wait on slow applications and slow peers`, GUARD, async () => {
    // Half of the handshakes are pool ⇄ pool, held by the server application,
    // which answers its STARTTLS_LOCALID proposal late; the other half are
    // pool clients whose TLS server accepts TCP and answers only later.
    const held = Math.ceil(CONCURRENT / 2);
    const slow = CONCURRENT - held;
    const events: string[] = [];
    const proposals: Array<() => void> = [];

    const heldRuns: Array<Promise<[Outcome, Outcome]>> = [];
    for (let i = 0; i < held; i++) {
      const pair = await pairs.pair();
      const client = outcome(clients.starttls({ role: 'client', fd: pair.client, localid: CLIENT_EMAIL, remoteid: SERVER_NAME }));
      const server = outcome(
        servers.starttls({
          role: 'server',
          fd: pair.server,
          // Other candidates are refused at once; ours is accepted only when released.
          onLocalId: ({ localid }) =>
            localid !== SERVER_NAME
              ? ''
              : new Promise<string>((resolve) => {
                  events.push('proposal');
                  proposals.push(() => resolve(localid));
                }),
        }),
      );
      pair.client.close();
      pair.server.close();
      heldRuns.push(Promise.all([client, server]).then((r) => (events.push('handshake'), r)));
    }

    // The slow TLS server: accepts, and starts TLS only when told.
    const parked: net.Socket[] = [];
    const slowServer = net.createServer({ pauseOnConnect: true }, (s) => {
      s.on('error', () => {});
      parked.push(s);
    });
    await new Promise<void>((r) => slowServer.listen(0, '127.0.0.1', r));
    const slowPort = (slowServer.address() as net.AddressInfo).port;
    const slowRuns: Array<Promise<Outcome>> = [];
    for (let i = 0; i < slow; i++) {
      const sock = net.connect(slowPort, '127.0.0.1');
      await new Promise((r) => sock.once('connect', r));
      const fd = takeFd(sock);
      const client = outcome(clients.starttls({ role: 'client', fd, localid: CLIENT_EMAIL, remoteid: SERVER_NAME }));
      fd.close();
      slowRuns.push(client.then((r) => (events.push('handshake'), r)));
    }

    // Everything is in flight and waiting: the proposals arrived, the slow
    // server holds its connections, no handshake is through.
    await waitFor('every LOCALID proposal', () => proposals.length === held, SETTLE_MS);
    await waitFor('every slow connection', () => parked.length === slow, SETTLE_MS);
    const pinger = PoolClient.connect(daemon.socket);
    const pings = 50;
    for (let round = 0; round < pings; round++) {
      assert.equal((await guarded('PING during handshakes', pinger.ping())).identity, TLSPOOL_IDENTITY_V1);
      events.push('ping');
    }
    assert.equal(events.filter((e) => e === 'handshake').length, 0, 'no handshake completes while held');

    // Now let them all through, and keep pinging while they finish.
    for (const s of parked) {
      const t = new tls.TLSSocket(s, { isServer: true, cert: pki.server.certPem, key: pki.server.keyPem });
      t.on('error', () => {});
      t.on('secure', () => t.end());
      s.resume();
    }
    for (const release of proposals) release();
    const pingsDuring = (async () => {
      while (events.filter((e) => e === 'handshake').length < CONCURRENT) {
        assert.equal((await pinger.ping()).identity, TLSPOOL_IDENTITY_V1);
      }
    })();
    const heldResults = await guarded('held handshakes', Promise.all(heldRuns));
    const slowResults = await guarded('slow handshakes', Promise.all(slowRuns));
    await guarded('PINGs while the handshakes finish', pingsDuring);
    pinger.close();
    slowServer.close();

    const firstHandshake = events.indexOf('handshake');
    assert.equal(events.slice(0, firstHandshake).filter((e) => e === 'ping').length, pings, 'every PING was answered before any handshake completed');
    assert.equal(events.filter((e) => e === 'proposal').length, held);
    const labels = [...heldResults.flatMap(([c, s]) => [label(c), label(s)]), ...slowResults.map(label)];
    assert.deepEqual(tally(labels), { ok: 2 * held + slow }, JSON.stringify(tally(labels)));
    for (const [c, s] of heldResults) {
      closeOutcome(c);
      closeOutcome(s);
    }
    for (const r of slowResults) closeOutcome(r);
    for (const s of parked) s.destroy();
    await fdsBackToStart('held and slow handshakes');
    await stillServes();
  });

  test('established connections closed by either side release every fd', GUARD, async () => {
    const n = 20 * SCALE;
    // Pool ⇄ pool: data both ways, then one application closes its plaintext
    // socket (gracefully, or abruptly); the other sees EOF and closes too.
    const runs = Array.from({ length: n }, async (_, i) => {
      const h = poolPair(await pairs.pair(), SERVER_NAME);
      const [c, s] = await Promise.all([h.client, h.server]);
      assert.ok(c.ok && s.ok, JSON.stringify([c, s]));
      const a = plainSocket(c.result.fd);
      const b = plainSocket(s.result.fd);
      const [first, second] = i % 2 === 0 ? [a, b] : [b, a];
      first.write(`ping ${i}\n`);
      await readUntil(second, new RegExp(`ping ${i}\\n`));
      second.write(`pong ${i}\n`);
      await readUntil(first, new RegExp(`pong ${i}\\n`));
      if (i % 4 < 2) first.end();
      else first.destroy();
      await closed(second).then(() => second.destroy());
      await closed(first);
    });
    await guarded('pool ⇄ pool connections', Promise.all(runs));
    await fdsBackToStart('pool ⇄ pool connections closed');

    // Pool client ⇄ a Node TLS server that closes first: with close_notify, or by cutting TCP.
    let count = 0;
    const remote = tls.createServer({ cert: pki.server.certPem, key: pki.server.keyPem }, (t) => {
      t.on('error', () => {});
      const i = count++;
      t.once('data', () => {
        t.write('bye\n');
        if (i % 2 === 0) t.end(); // close_notify, then FIN
        else t.destroy(); // no close_notify: the pool sees a truncated stream
      });
    });
    await new Promise<void>((r) => remote.listen(0, '127.0.0.1', r));
    const port = (remote.address() as net.AddressInfo).port;
    const remoteRuns = Array.from({ length: n }, async (_, i) => {
      const sock = net.connect(port, '127.0.0.1');
      await new Promise((r) => sock.once('connect', r));
      const fd = takeFd(sock);
      const o = await outcome(clients.starttls({ role: 'client', fd, localid: CLIENT_EMAIL, remoteid: SERVER_NAME }));
      fd.close();
      assert.ok(o.ok, JSON.stringify(o));
      const p = plainSocket(o.result.fd);
      p.write(`hello ${i}\n`);
      await closed(p);
      p.destroy();
    });
    await guarded('pool ⇄ remote connections', Promise.all(remoteRuns));
    remote.close();
    await fdsBackToStart('connections closed by the remote end');
    await stillServes();
  });
});
