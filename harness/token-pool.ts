/**
 * A daemon whose identities have their keys on a SoftHSM2 token made for the
 * test: the token, the daemon (configured with the SoftHSM module and the
 * test's PIN settings), the identity and trust anchors, and helpers to run
 * STARTTLS through it and to be a PIN entry program.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { PoolClient, type PinPrompt, type StartTlsResult } from '../src/client/pool-client';
import { openDb } from '../src/store/db';
import { IdentityStore } from '../src/store/identities';
import type { OwnedFd } from '../src/addon/ipc';
import { CLIENT_EMAIL, getPki, SERVER_NAME } from './pki';
import { startDaemon, type TestDaemon } from './daemon';
import { startOpensslServer, type Peer } from './peers';
import { createSoftHsm, SOFTHSM_MODULE, type SoftHsm, type TokenKey } from './softhsm';
import { takeFd } from '../src/addon/node-socket';

export const TOKEN = 'work';
/** Distinctive, so a grep for it cannot match anything else. */
export const PIN = '73915824';

export interface TokenPool {
  readonly daemon: TestDaemon;
  readonly hsm: SoftHsm;
  readonly key: TokenKey;
  readonly serverKey: TokenKey;
  /** A new connection to the pool, closed by stop(). */
  client(): PoolClient;
  stop(): Promise<void>;
}

export interface TokenPoolOptions {
  /** YAML lines added under `pin:`. */
  pin?: string[];
  /** More top-level YAML lines. */
  extra?: string[];
  /** `pkcs11.modules` (default: SoftHSM's module), e.g. pkcs11-spy in front of it. */
  modules?: string[];
  /** More environment for the daemon (besides SOFTHSM2_CONF). */
  env?: NodeJS.ProcessEnv;
}

/** Token "work" (PIN `PIN`) on a new SoftHSM2, with alice's key and the server's on it. */
export interface TokenKeys {
  readonly hsm: SoftHsm;
  readonly key: TokenKey;
  readonly serverKey: TokenKey;
}

export function createTokenKeys(): TokenKeys {
  const pki = getPki();
  const hsm = createSoftHsm();
  hsm.initToken(TOKEN, PIN);
  const key = hsm.importKey({ token: TOKEN, pin: PIN, keyPath: pki.client.keyPath, object: 'alice', id: '01' });
  const serverKey = hsm.importKey({ token: TOKEN, pin: PIN, keyPath: pki.server.keyPath, object: 'server', id: '02' });
  return { hsm, key, serverKey };
}

/** Write alice@example.test and server.example.test (keys on the token) and the test CA into a state directory. */
export function addTokenIdentities(stateDir: string, keys: TokenKeys): void {
  const pki = getPki();
  const db = openDb(stateDir);
  const store = new IdentityStore(db);
  store.addIdentity(CLIENT_EMAIL, pki.client.chainPem, keys.key.uri);
  store.addIdentity(SERVER_NAME, pki.server.chainPem, keys.serverKey.uri);
  store.addTrustAnchors(pki.ca.certPem);
  db.close();
}

/** alice@example.test (client) and server.example.test (server) with keys on token "work". */
export async function startTokenPool(opts: TokenPoolOptions = {}): Promise<TokenPool> {
  const keys = createTokenKeys();
  const { hsm, key, serverKey } = keys;
  const config = ['pkcs11:', `  modules: [${(opts.modules ?? [SOFTHSM_MODULE]).join(', ')}]`, 'pin:', ...(opts.pin ?? []).map((l) => `  ${l}`), ...(opts.extra ?? []), ''].join('\n');
  const daemon = await startDaemon({ env: { ...hsm.env, ...opts.env }, config });
  addTokenIdentities(daemon.stateDir, keys);
  const clients: PoolClient[] = [];
  return {
    daemon,
    hsm,
    key,
    serverKey,
    client() {
      const c = PoolClient.connect(daemon.socket);
      clients.push(c);
      return c;
    },
    async stop() {
      for (const c of clients) c.close();
      await daemon.stop();
      hsm.cleanup();
    },
  };
}

/** A connected TCP socket to 127.0.0.1:port as an OwnedFd (Node keeps no copy). */
export async function connectFd(port: number): Promise<OwnedFd> {
  const sock = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  return takeFd(sock);
}

/** alice@example.test to the TLS server on 127.0.0.1:`port` (server.example.test), through `pool`. */
export async function aliceToPeer(pool: TokenPool, port: number) {
  const fd = await connectFd(port);
  try {
    return await pool.client().starttls({ role: 'client', fd, localid: CLIENT_EMAIL, remoteid: SERVER_NAME });
  } finally {
    fd.close();
  }
}

/**
 * STARTTLS_CLIENT to 127.0.0.1:`port` with remoteid server.example.test;
 * without `localid` the pool proposes one (accepted as is). For tests that
 * answer prompts while it runs: the promise is awaited or asserted on later,
 * and a refusal meanwhile is not an unhandled rejection.
 */
export function startTlsTo(client: PoolClient, port: number, localid?: string): Promise<StartTlsResult> {
  const done = (async () => {
    const fd = await connectFd(port);
    try {
      return await client.starttls({ role: 'client', fd, localid, remoteid: SERVER_NAME });
    } finally {
      fd.close();
    }
  })();
  done.catch(() => {});
  return done;
}

/** A plaintext fd from the pool as a Node socket (which then owns it). */
export function plainSocket(fd: OwnedFd): net.Socket {
  const n = fd.dup();
  fd.close();
  return new net.Socket({ fd: n.release(), readable: true, writable: true, allowHalfOpen: true });
}

/** Send "abc\n" over a plaintext fd from the pool and return what came back (openssl s_server -rev answers "cba\n"). */
export async function talk(fd: OwnedFd): Promise<string> {
  const sock = plainSocket(fd);
  sock.write('abc\n');
  try {
    return await new Promise<string>((resolve, reject) => {
      sock.once('data', (d: Buffer) => resolve(d.toString()));
      sock.once('error', reject);
    });
  } finally {
    sock.destroy();
  }
}

/** openssl s_server -rev that requires a client certificate issued by `caPath` (default: the test CA). */
export function startRevServer(caPath = getPki().ca.certPath): Promise<Peer> {
  const pki = getPki();
  return startOpensslServer({ certPath: pki.server.certPath, keyPath: pki.server.keyPath, caPath, clientCert: 'require', rev: true });
}

/** A PIN entry program on its own pool connection that records every prompt. */
export interface PinProgram {
  readonly prompts: PinPrompt[];
  /** Settles when the registration ends (SUCCESS after a stop, or an ERROR). */
  readonly done: Promise<void>;
  readonly client: PoolClient;
}

export function pinProgram(
  pool: TokenPool,
  answer: (p: PinPrompt, n: number) => string | null | 'stop' | Promise<string | null | 'stop'>,
  opts: { shared?: boolean } = {},
): PinProgram {
  const client = pool.client();
  const prompts: PinPrompt[] = [];
  const done = client.offerPinEntry({
    shared: opts.shared,
    onPrompt: async (p) => {
      prompts.push(p);
      const a = await answer(p, prompts.length);
      return a === null || a === 'stop' ? a : new TextEncoder().encode(a);
    },
  });
  done.catch(() => {});
  return { prompts, done, client };
}

/** Every file under a directory, for grepping. */
export function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? filesUnder(p) : [p];
  });
}
