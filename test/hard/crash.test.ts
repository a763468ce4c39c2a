/**
 * Crash (hardening suite): `kill -9` of the daemon while it relays live
 * connections and has STARTTLS requests pending. Every application must see
 * EOF or an error on its plaintext stream or its pool connection; a daemon
 * restarted on the same socket and state directory must serve at once and
 * mark the connections the crash left established as closed; the state
 * database must pass `PRAGMA integrity_check`.
 *
 * How long the applications took to notice is printed, not asserted (the
 * machine is shared and noisy); the bound on the wait only turns a hang into
 * a failure.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { PoolClient, type StartTlsResult } from '../../src/client/pool-client';
import { Failure } from '../../src/model/failure';
import type { OwnedFd } from '../../src/addon/ipc';
import { TLSPOOL_IDENTITY_V1 } from '../../src/protocol';
import { startDaemon, tempDir } from '../../harness/daemon';
import { guardMs, HARD } from '../../harness/hard-size';
import { CLIENT_EMAIL, getPki, SERVER_NAME } from '../../harness/pki';
import { Plaintext, TcpListener, tcpConnect, tlspoolCli } from '../../harness/starttls';
import { waitFor } from '../../harness/wait';

const N = HARD.crashConnections;
/** STARTTLS requests left waiting on a peer that never answers when the daemon dies. */
const PENDING = Math.max(5, N / 10);
const CONFIG = 'tls:\n  system_trust: false\n';

/** One end an application holds, and when it saw EOF or an error there. */
interface Watched {
  readonly what: string;
  endedAt?: number;
}

function watchPlaintext(plain: Plaintext, what: string): Watched {
  const w: Watched = { what };
  plain.socket.once('close', () => (w.endedAt ??= Date.now()));
  return w;
}

function establishedRows(db: Database.Database): number {
  return (db.prepare("SELECT count(*) AS n FROM connections WHERE state IN ('handshaking', 'established')").get() as { n: number }).n;
}

test(`kill -9 with ${N} live connections: every application sees EOF or an error, a restarted daemon serves at once and closes the orphaned log rows, the state database is intact`, guardMs(120_000, 300_000), async (t) => {
  const pki = getPki();
  const dir = tempDir('tlspool-crash-');
  const stateDir = path.join(dir, 'state');
  tlspoolCli(stateDir, ['identity', 'add', SERVER_NAME, '--cert', pki.server.chainPath, '--key', pki.server.keyPath]);
  tlspoolCli(stateDir, ['identity', 'add', CLIENT_EMAIL, '--cert', pki.client.chainPath, '--key', pki.client.keyPath]);
  tlspoolCli(stateDir, ['trust', 'add', pki.ca.certPath]);
  const daemon = await startDaemon({ dir, config: CONFIG });
  const clients = PoolClient.connect(daemon.socket);
  const servers = PoolClient.connect(daemon.socket);
  const listener = await TcpListener.open();
  const silent = await TcpListener.open();
  const held: OwnedFd[] = [];
  const plains: Plaintext[] = [];
  try {
    /** A pool client and a pool server over one loopback TCP connection, both through this daemon. */
    async function relayedPair(): Promise<[StartTlsResult, StartTlsResult]> {
      const clientFd = await tcpConnect(listener.port);
      const serverFd = await listener.accept();
      try {
        return await Promise.all([
          clients.starttls({ role: 'client', fd: clientFd, localid: CLIENT_EMAIL, remoteid: SERVER_NAME }),
          servers.starttls({ role: 'server', fd: serverFd, localid: SERVER_NAME }),
        ]);
      } finally {
        clientFd.close();
        serverFd.close();
      }
    }

    // N relayed connections, each proven to carry data both ways.
    const watched: Watched[] = [];
    for (let i = 0; i < N; i += 10) {
      const pairs = await Promise.all(Array.from({ length: Math.min(10, N - i) }, () => relayedPair()));
      for (const [j, [c, s]] of pairs.entries()) {
        const client = new Plaintext(c.fd);
        const server = new Plaintext(s.fd);
        plains.push(client, server);
        client.write(`to server ${i + j}\n`);
        server.write(`to client ${i + j}\n`);
        await server.until(`to server ${i + j}\n`);
        await client.until(`to client ${i + j}\n`);
        watched.push(watchPlaintext(client, `client plaintext ${i + j}`), watchPlaintext(server, `server plaintext ${i + j}`));
      }
    }

    // STARTTLS requests still in their handshake: the peer accepted the TCP connection and says nothing.
    const pending = Array.from({ length: PENDING }, async (_, i) => {
      const fd = await tcpConnect(silent.port);
      held.push(await silent.accept());
      const w: Watched = { what: `pending STARTTLS ${i}` };
      watched.push(w);
      const p = clients.starttls({ role: 'client', fd, remoteid: SERVER_NAME });
      fd.close();
      return p.then(
        (r) => {
          r.fd.close();
          return 'established';
        },
        (e: unknown) => {
          w.endedAt = Date.now();
          return e instanceof Failure ? e.code : String(e);
        },
      );
    });
    // Wait until the daemon holds every pending handshake, so that the kill finds them in progress.
    await waitFor('the pending handshakes to be in the daemon', () => clients.outstanding >= PENDING);
    for (const [what, conn] of [['the client application', clients], ['the server application', servers]] as const) {
      const w: Watched = { what: `${what}'s pool connection` };
      watched.push(w);
      conn.onClose(() => (w.endedAt ??= Date.now()));
    }

    const killedAt = Date.now();
    daemon.proc.kill('SIGKILL');
    try {
      await waitFor('every application to see EOF or an error', () => watched.every((w) => w.endedAt !== undefined), 30_000);
    } catch (e) {
      const open = watched.filter((w) => w.endedAt === undefined).map((w) => w.what);
      throw new Error(`${(e as Error).message}: still open after 30 s: ${open.slice(0, 10).join(', ')}${open.length > 10 ? ', …' : ''}`);
    }
    const latest = Math.max(...watched.map((w) => w.endedAt! - killedAt));
    t.diagnostic(`${watched.length} application ends (${2 * N} plaintext streams, ${PENDING} pending STARTTLS, 2 pool connections) all saw EOF or an error; the last ${latest} ms after kill -9`);
    const pendingCodes = await Promise.all(pending);
    assert.deepEqual(new Set(pendingCodes), new Set(['ECONNRESET']), `pending STARTTLS ended with ${pendingCodes.join(', ')}`);
    await waitFor('the daemon process to be gone', () => daemon.proc.exitCode !== null || daemon.proc.signalCode !== null);
    assert.equal(daemon.proc.signalCode, 'SIGKILL');

    // The state database as the crash left it: intact, with the killed connections still logged as established.
    const dbPath = path.join(stateDir, 'tlspool.db');
    const db = new Database(dbPath);
    try {
      assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
      assert.equal(establishedRows(db), 2 * N, 'the crash left its live connections in the log');
    } finally {
      db.close();
    }

    // A new daemon on the same socket path and state directory.
    const restartAt = Date.now();
    const again = await startDaemon({ dir, config: CONFIG });
    try {
      const app = PoolClient.connect(again.socket);
      try {
        assert.equal((await app.ping()).identity, TLSPOOL_IDENTITY_V1);
        t.diagnostic(`the restarted daemon answered PING ${Date.now() - restartAt} ms after it was started`);
        const log = new Database(dbPath, { readonly: true });
        try {
          assert.equal(establishedRows(log), 0, 'the restarted daemon ended the connections the crash left established');
          const ended = log.prepare("SELECT record FROM connections WHERE record LIKE '%stopped without closing%'").all() as Array<{ record: string }>;
          assert.equal(ended.length, 2 * N);
          assert.ok(ended.every((r) => (JSON.parse(r.record) as { state: string }).state === 'closed'));
        } finally {
          log.close();
        }
        // Its identities and trust survived: a handshake through it works.
        const fd = await tcpConnect(listener.port);
        const peerFd = await listener.accept();
        const other = PoolClient.connect(again.socket);
        const [c, s] = await Promise.all([
          app.starttls({ role: 'client', fd, localid: CLIENT_EMAIL, remoteid: SERVER_NAME }),
          other.starttls({ role: 'server', fd: peerFd, localid: SERVER_NAME }),
        ]);
        fd.close();
        peerFd.close();
        assert.equal(c.remoteid, SERVER_NAME);
        c.fd.close();
        s.fd.close();
        other.close();
      } finally {
        app.close();
      }
    } finally {
      assert.equal(await again.stop(), 0, `the restarted daemon exits cleanly:\n${again.logs().slice(-2000)}`);
    }
    const after = new Database(dbPath, { readonly: true });
    try {
      assert.equal(after.pragma('integrity_check', { simple: true }), 'ok');
    } finally {
      after.close();
    }
  } finally {
    if (daemon.proc.exitCode === null && daemon.proc.signalCode === null) daemon.proc.kill('SIGKILL');
    for (const p of plains) p.destroy();
    for (const fd of held) fd.close();
    clients.close();
    servers.close();
    await listener.close();
    await silent.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
