/**
 * The three systems the bench compares, each in the same topology
 * (application -> TLS client -> TLS server -> backend, loopback, TLS 1.3,
 * AES-128-GCM, the P-256 certificate of harness/pki.ts):
 *   pool:     the app hands its TCP socket to the daemon (STARTTLS client), the bench
 *             server hands the accepted socket to the same daemon (STARTTLS server);
 *             both plaintext ends are the fds the pool hands back.
 *   stunnel:  app -> stunnel client (TCP) -> stunnel server -> backend (TCP); two processes.
 *   node_tls: tls.connect / tls.createServer in this process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import * as tls from 'node:tls';
import type { PoolClient } from '../src/client/pool-client';
import { StartTlsFlag } from '../src/protocol/constants';
import { getPki, SERVER_NAME } from '../harness/pki';
import { startPool, type Pool } from '../harness/starttls';
import { log, serveBackend, sleep } from './work';
import { takeFd } from '../src/addon/node-socket';

/** The ECDHE group of every system: X25519, what OpenSSL (stunnel, Node) prefers by default. */
export const GROUP = 'X25519';
export const PRIORITY = `NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:-GROUP-ALL:+GROUP-${GROUP}`;
export const SUITE = 'TLS_AES_128_GCM_SHA256';

export type Name = 'pool' | 'stunnel' | 'node_tls';
export const NAMES: Name[] = ['pool', 'stunnel', 'node_tls'];

export interface Opened {
  s: net.Socket;
  /** pool: STARTTLS request to response; node_tls: tls.connect to secureConnect. */
  handshakeMs?: number;
}

export interface System {
  readonly name: Name;
  /** Processes whose RSS counts as the TLS side's memory. */
  pids(): number[];
  /** A plaintext application socket whose TLS is set up (pool, node) or on its way (stunnel). */
  open(): Promise<Opened>;
  /** The pool's own client (for LOCAL commands), when the system is the pool. */
  readonly poolClient?: PoolClient;
  stop(): Promise<void>;
}

const pki = getPki();
export const children: ChildProcess[] = [];

export function killChildren(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}
process.on('exit', killChildren);

async function listen(server: net.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as net.AddressInfo).port;
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  const port = await listen(s);
  await new Promise((r) => s.close(r));
  return port;
}

export async function poolSystem(): Promise<System> {
  const pool: Pool = await startPool({
    identities: [[SERVER_NAME, pki.server]],
    trust: [pki.ca],
    tls: { priority: PRIORITY },
  });
  children.push(pool.daemon.proc);
  // stunnel runs with debug = 3 (errors only): the pool should log as little.
  // The daemon must first say "listening" (info) for startPool to see it, so
  // the level goes down afterwards, by a configuration reload.
  const configFile = path.join(pool.daemon.dir, 'tlspool.yaml');
  fs.appendFileSync(configFile, 'log:\n  level: warn\n');
  process.kill(pool.daemon.pid, 'SIGHUP');
  await sleep(300);
  let serverErrors = 0;
  const server = net.createServer({ pauseOnConnect: true }, (sock) => {
    sock.on('error', () => {});
    let fd;
    try {
      fd = takeFd(sock);
    } catch {
      return;
    }
    pool.client
      .starttls({ role: 'server', fd, localid: SERVER_NAME, flags: StartTlsFlag.IGNORE_REMOTEID })
      .then((r) => serveBackend(new net.Socket({ fd: r.fd.release(), readable: true, writable: true })))
      .catch((e) => {
        if (serverErrors++ < 3) log(`pool: server STARTTLS failed: ${(e as Error).message}`);
      })
      .finally(() => fd.close());
  });
  const port = await listen(server);
  return {
    name: 'pool',
    pids: () => [pool.daemon.pid],
    poolClient: pool.client,
    async open() {
      const sock = net.connect(port, '127.0.0.1');
      await Promise.race([once(sock, 'connect'), once(sock, 'error').then(([e]) => Promise.reject(e))]);
      const fd = takeFd(sock);
      const t = performance.now();
      try {
        const r = await pool.client.starttls({ role: 'client', fd, remoteid: SERVER_NAME, onLocalId: () => '' });
        const handshakeMs = performance.now() - t;
        return { s: new net.Socket({ fd: r.fd.release(), readable: true, writable: true }), handshakeMs };
      } finally {
        fd.close();
      }
    },
    async stop() {
      server.close();
      const stopped = pool.stop().catch((e) => log(`pool stop: ${String(e).slice(0, 300)}`));
      await Promise.race([stopped, sleep(10000)]);
      if (pool.daemon.proc.exitCode === null) pool.daemon.proc.kill('SIGKILL');
    },
  };
}

export async function stunnelSystem(dir: string): Promise<System> {
  const backend = net.createServer(serveBackend);
  const backendPort = await listen(backend);
  const tlsPort = await freePort();
  const appPort = await freePort();
  const common = ['foreground = yes', 'pid =', 'syslog = no', 'debug = 3', ''];
  const opts = [`ciphersuites = ${SUITE}`, `curves = ${GROUP}`, 'sslVersionMin = TLSv1.3', 'sslVersionMax = TLSv1.3'];
  fs.writeFileSync(
    path.join(dir, 'server.conf'),
    [...common, '[server]', `accept = 127.0.0.1:${tlsPort}`, `connect = 127.0.0.1:${backendPort}`,
      `cert = ${pki.server.chainPath}`, `key = ${pki.server.keyPath}`, ...opts, ''].join('\n'),
  );
  fs.writeFileSync(
    path.join(dir, 'client.conf'),
    [...common, '[client]', 'client = yes', `accept = 127.0.0.1:${appPort}`, `connect = 127.0.0.1:${tlsPort}`,
      `CAfile = ${pki.ca.certPath}`, 'verifyChain = yes', `checkHost = ${SERVER_NAME}`, ...opts, ''].join('\n'),
  );
  const procs = ['server', 'client'].map((n) => {
    const p = spawn('stunnel4', [path.join(dir, `${n}.conf`)], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr!.on('data', (b: Buffer) => (err = (err + b.toString()).slice(-4000)));
    p.on('exit', (code) => code && log(`stunnel ${n} exited ${code}: ${err}`));
    children.push(p);
    return p;
  });
  // Ready when both ports accept.
  for (const port of [tlsPort, appPort]) {
    const deadline = Date.now() + 10000;
    for (;;) {
      const ok = await new Promise<boolean>((resolve) => {
        const s = net.connect(port, '127.0.0.1', () => (s.destroy(), resolve(true)));
        s.on('error', () => resolve(false));
      });
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`stunnel did not listen on ${port}`);
      await sleep(50);
    }
  }
  return {
    name: 'stunnel',
    pids: () => procs.map((p) => p.pid!),
    async open() {
      const s = net.connect(appPort, '127.0.0.1');
      await Promise.race([once(s, 'connect'), once(s, 'error').then(([e]) => Promise.reject(e))]);
      return { s };
    },
    async stop() {
      backend.close();
      for (const p of procs) p.kill('SIGKILL');
    },
  };
}

export async function nodeTlsSystem(): Promise<System> {
  const tlsOpts = { minVersion: 'TLSv1.3' as const, maxVersion: 'TLSv1.3' as const, ciphers: SUITE, ecdhCurve: GROUP };
  const server = tls.createServer({ ...tlsOpts, key: pki.server.keyPem, cert: pki.server.chainPem }, (s) => serveBackend(s));
  server.on('tlsClientError', () => {});
  const port = await listen(server);
  return {
    name: 'node_tls',
    pids: () => [process.pid],
    async open() {
      const s = tls.connect({ ...tlsOpts, port, host: '127.0.0.1', servername: SERVER_NAME, ca: pki.ca.certPem });
      // From TCP connected to secureConnect: what a STARTTLS does on a connected socket.
      let connected = performance.now();
      s.once('connect', () => (connected = performance.now()));
      await Promise.race([once(s, 'secureConnect'), once(s, 'error').then(([e]) => Promise.reject(e))]);
      return { s, handshakeMs: performance.now() - connected };
    },
    async stop() {
      server.close();
    },
  };
}
