/**
 * `npm run bench [-- --quick]`: the pool against stunnel4 and Node's `tls`,
 * same work, same machine, same run (issue 6, item 1: measure, no tuning).
 *
 * Topology for all three (loopback, TLS 1.3, AES-128-GCM, P-256 ECDSA):
 *   application --plaintext--> [TLS client] ==TLS==> [TLS server] --plaintext--> backend
 *   pool:     the app hands its TCP socket to the daemon (STARTTLS client), the bench
 *             server hands the accepted socket to the same daemon (STARTTLS server);
 *             both plaintext ends are the fds the pool hands back.
 *   stunnel:  app -> stunnel client (TCP) -> stunnel server -> backend (TCP); two processes.
 *   node_tls: tls.connect / tls.createServer in this process.
 * The application and the backend always live in this process.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { getPki, SERVER_NAME } from '../test/helpers/pki';
import { StartTlsFlag } from '../daemon/src/protocol/constants';
import { startPool, takeFd, type Pool } from '../test/helpers/starttls';

const QUICK = process.argv.includes('--quick');
const MODE = QUICK ? 'quick' : 'full';
const PRIORITY = 'NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM';
const SUITE = 'TLS_AES_128_GCM_SHA256';
const MiB = 1024 * 1024;

const P = QUICK
  ? { handshakes: 400, parallel: 16, latency: 100, bulkOne: 256 * MiB, bulkBoth: 0, idle: [500], speedSeconds: 1 }
  : { handshakes: 2000, parallel: 16, latency: 500, bulkOne: 1024 * MiB, bulkBoth: 1024 * MiB, idle: [1000, 10000], speedSeconds: 3 };
/** Per-phase time limits (ms). */
const LIMIT = { open: 20000, phase: QUICK ? 30000 : 180000 };

type Name = 'pool' | 'stunnel' | 'node_tls';
const NAMES: Name[] = ['pool', 'stunnel', 'node_tls'];

function log(s: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${s}\n`);
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<T>((_, reject) => (t = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms))),
  ]);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function vmRssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

// ---------------------------------------------------------------------------
// The backend protocol: a 9-byte header (mode, u64 count), then
//   E: echo everything;  U: sink `count` bytes, then answer "K";
//   D: send `count` bytes while sinking `count` bytes, then answer "K".

const CHUNK = Buffer.alloc(64 * 1024, 0x61);

async function pump(s: net.Socket, n: number): Promise<void> {
  let left = n;
  while (left > 0) {
    if (s.destroyed) throw new Error('socket closed while sending');
    const k = Math.min(left, CHUNK.length);
    left -= k;
    if (!s.write(k === CHUNK.length ? CHUNK : CHUNK.subarray(0, k))) {
      await drainOrClose(s);
    }
  }
}

/** Wait for 'drain' (or 'close'), leaving no listener behind. */
function drainOrClose(s: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      s.off('drain', done);
      s.off('close', done);
      resolve();
    };
    s.on('drain', done);
    s.on('close', done);
  });
}

function header(mode: 'E' | 'U' | 'D', n: number): Buffer {
  const h = Buffer.alloc(9);
  h.write(mode, 0, 'latin1');
  h.writeBigUInt64BE(BigInt(n), 1);
  return h;
}

function serveBackend(s: net.Socket): void {
  s.on('error', () => {});
  let head = Buffer.alloc(0);
  let mode = '';
  let want = 0;
  let got = 0;
  let sent: Promise<void> = Promise.resolve();
  let acked = false;
  s.on('data', (chunk: Buffer) => {
    if (!mode) {
      head = Buffer.concat([head, chunk]);
      if (head.length < 9) return;
      mode = String.fromCharCode(head[0]!);
      want = Number(head.readBigUInt64BE(1));
      chunk = head.subarray(9);
      if (mode === 'D') sent = pump(s, want);
    }
    if (mode === 'E') {
      if (chunk.length) s.write(chunk);
      return;
    }
    got += chunk.length;
    if (got >= want && !acked) {
      acked = true;
      sent.then(() => s.write('K')).catch(() => s.destroy());
    }
  });
}

/** Bytes arriving on the application side, with a wait for a total. */
class Counter {
  n = 0;
  private waiter?: { at: number; resolve: () => void };
  constructor(readonly s: net.Socket) {
    s.on('data', (b: Buffer) => {
      this.n += b.length;
      if (this.waiter && this.n >= this.waiter.at) {
        const w = this.waiter;
        this.waiter = undefined;
        w.resolve();
      }
    });
    s.on('error', () => {});
  }
  until(at: number, ms: number): Promise<void> {
    if (this.n >= at) return Promise.resolve();
    return withTimeout(
      new Promise<void>((resolve, reject) => {
        const onClose = () => reject(new Error(`closed after ${this.n} of ${at} bytes`));
        this.waiter = {
          at,
          resolve: () => {
            this.s.off('close', onClose);
            resolve();
          },
        };
        this.s.once('close', onClose);
      }),
      ms,
      `waiting for ${at} bytes`,
    );
  }
}

/** An application connection in echo mode with one round trip done. */
async function echoConn(sys: System): Promise<{ s: net.Socket; c: Counter; openMs: number; rttMs: number; starttlsMs?: number }> {
  const t0 = performance.now();
  const { s, starttlsMs } = await withTimeout(sys.open(), LIMIT.open, `${sys.name} open`);
  const c = new Counter(s);
  const t1 = performance.now();
  s.write(Buffer.concat([header('E', 0), Buffer.from('x')]));
  await c.until(1, LIMIT.open);
  const t2 = performance.now();
  return { s, c, openMs: t2 - t0, rttMs: t2 - t1, starttlsMs };
}

function closeConn(s: net.Socket): Promise<void> {
  if (s.destroyed) return Promise.resolve();
  const closed = once(s, 'close').then(() => {});
  s.destroy();
  return closed;
}

// ---------------------------------------------------------------------------
// The three systems

interface System {
  readonly name: Name;
  /** Processes whose RSS counts as the TLS side's memory. */
  pids(): number[];
  /** A plaintext application socket whose TLS is set up (pool, node) or on its way (stunnel). */
  open(): Promise<{ s: net.Socket; starttlsMs?: number }>;
  stop(): Promise<void>;
}

const pki = getPki();
const children: ChildProcess[] = [];

function killChildren(): void {
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

async function poolSystem(): Promise<System> {
  const pool: Pool = await startPool({
    identities: [[SERVER_NAME, pki.server]],
    trust: [pki.ca],
    tls: { priority: PRIORITY },
  });
  children.push(pool.daemon.proc);
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
    async open() {
      const sock = net.connect(port, '127.0.0.1');
      await Promise.race([once(sock, 'connect'), once(sock, 'error').then(([e]) => Promise.reject(e))]);
      const fd = takeFd(sock);
      const t = performance.now();
      try {
        const r = await pool.client.starttls({ role: 'client', fd, remoteid: SERVER_NAME, onLocalId: () => '' });
        const starttlsMs = performance.now() - t;
        return { s: new net.Socket({ fd: r.fd.release(), readable: true, writable: true }), starttlsMs };
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

async function stunnelSystem(dir: string): Promise<System> {
  const backend = net.createServer(serveBackend);
  const backendPort = await listen(backend);
  const tlsPort = await freePort();
  const appPort = await freePort();
  const common = ['foreground = yes', 'pid =', 'syslog = no', 'debug = 3', ''];
  const opts = [`ciphersuites = ${SUITE}`, 'sslVersionMin = TLSv1.3', 'sslVersionMax = TLSv1.3'];
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

async function nodeTlsSystem(): Promise<System> {
  const tlsOpts = { minVersion: 'TLSv1.3' as const, maxVersion: 'TLSv1.3' as const, ciphers: SUITE };
  const server = tls.createServer({ ...tlsOpts, key: pki.server.keyPem, cert: pki.server.chainPem }, (s) => serveBackend(s));
  server.on('tlsClientError', () => {});
  const port = await listen(server);
  return {
    name: 'node_tls',
    pids: () => [process.pid],
    async open() {
      const s = tls.connect({ ...tlsOpts, port, host: '127.0.0.1', servername: SERVER_NAME, ca: pki.ca.certPem });
      await Promise.race([once(s, 'secureConnect'), once(s, 'error').then(([e]) => Promise.reject(e))]);
      return { s };
    },
    async stop() {
      server.close();
    },
  };
}

// ---------------------------------------------------------------------------
// Measurements

function pct(xs: number[], p: number): number {
  const a = [...xs].sort((x, y) => x - y);
  return a.length ? a[Math.min(a.length - 1, Math.floor((p / 100) * a.length))]! : NaN;
}

const gc = (globalThis as { gc?: () => void }).gc;

async function idleRss(sys: System, counts: number[]): Promise<Record<number, number | string>> {
  const out: Record<number, number | string> = {};
  const held: net.Socket[] = [];
  try {
    for (let i = 0; i < 5; i++) await closeConn((await echoConn(sys)).s); // warm up
    gc?.();
    await sleep(300);
    const before = sys.pids().reduce((a, p) => a + vmRssKiB(p), 0);
    const deadline = Date.now() + LIMIT.phase * 2;
    for (const target of counts) {
      try {
        while (held.length < target) {
          if (Date.now() > deadline) throw new Error(`time limit with ${held.length} connections`);
          const batch = Math.min(32, target - held.length);
          const conns = await Promise.all(Array.from({ length: batch }, () => echoConn(sys)));
          for (const c of conns) held.push(c.s);
        }
        gc?.();
        await sleep(500);
        const after = sys.pids().reduce((a, p) => a + vmRssKiB(p), 0);
        out[target] = Math.round(((after - before) / target) * 100) / 100;
        log(`${sys.name}: ${target} idle connections, RSS ${before} -> ${after} KiB`);
      } catch (e) {
        out[target] = `failed at ${held.length}: ${(e as Error).message}`;
        log(`${sys.name}: idle ${target}: ${out[target]}`);
        break;
      }
    }
  } finally {
    await Promise.all(held.map(closeConn));
  }
  return out;
}

async function latency(sys: System): Promise<{ p50: number; p99: number; starttls_p50?: number; starttls_p99?: number }> {
  const open: number[] = [];
  const st: number[] = [];
  const deadline = Date.now() + LIMIT.phase;
  for (let i = 0; i < P.latency && Date.now() < deadline; i++) {
    const c = await echoConn(sys);
    open.push(c.openMs);
    if (c.starttlsMs !== undefined) st.push(c.starttlsMs);
    await closeConn(c.s);
  }
  const r: { p50: number; p99: number; starttls_p50?: number; starttls_p99?: number } = { p50: pct(open, 50), p99: pct(open, 99) };
  if (st.length) Object.assign(r, { starttls_p50: pct(st, 50), starttls_p99: pct(st, 99) });
  return r;
}

async function handshakes(sys: System): Promise<number> {
  let next = 0;
  let done = 0;
  const deadline = Date.now() + LIMIT.phase;
  const t0 = performance.now();
  const worker = async () => {
    while (next < P.handshakes && Date.now() < deadline) {
      next++;
      const c = await echoConn(sys);
      await closeConn(c.s);
      done++;
    }
  };
  await Promise.all(Array.from({ length: P.parallel }, worker));
  return done / ((performance.now() - t0) / 1000);
}

/** MiB/s of payload; `both`: both directions at once, counted as 2n bytes. */
async function bulk(sys: System, n: number, both: boolean): Promise<number> {
  const { s } = await withTimeout(sys.open(), LIMIT.open, `${sys.name} open`);
  try {
    const c = new Counter(s);
    const t0 = performance.now();
    s.write(header(both ? 'D' : 'U', n));
    await withTimeout(pump(s, n), LIMIT.phase, 'sending');
    await c.until(both ? n + 1 : 1, LIMIT.phase);
    const secs = (performance.now() - t0) / 1000;
    return ((both ? 2 : 1) * n) / MiB / secs;
  } finally {
    await closeConn(s);
  }
}

function aesCeiling(): { mib_s: number; raw_kB_s: number } | string {
  try {
    const out = execFileSync('openssl', ['speed', '-elapsed', '-seconds', String(P.speedSeconds), '-evp', 'aes-128-gcm'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 60000,
    });
    const line = out.split('\n').find((l) => /^aes-128-gcm\s/i.test(l.trim()) && /k\s*$/.test(l.trim()));
    if (!line) return 'no result line in openssl speed output';
    const cols = line.trim().split(/\s+/);
    const kB = Number(cols[cols.length - 1]!.replace(/k$/, '')); // the 16384-byte column, in 1000s of bytes/s
    return { mib_s: Math.round(((kB * 1000) / MiB) * 10) / 10, raw_kB_s: kB };
  } catch (e) {
    return `openssl speed failed: ${(e as Error).message}`;
  }
}

// ---------------------------------------------------------------------------

type Fig = { better: 'higher' | 'lower'; unit: string } & Partial<Record<Name, number | string | null>>;

async function measure(sys: System, figs: Record<string, Fig>): Promise<void> {
  const put = (key: string, v: number | string | null): void => {
    figs[key]![sys.name] = typeof v === "number" ? Math.round(v * 100) / 100 : v;
  };
  const guard = async (key: string[], f: () => Promise<void>) => {
    try {
      await f();
    } catch (e) {
      log(`${sys.name}: ${key.join(',')}: ${(e as Error).message}`);
      for (const k of key) if (figs[k]![sys.name] === undefined) put(k, `error: ${(e as Error).message}`);
    }
  };
  await guard(P.idle.map((n) => `rss_per_idle_conn_${n}_kib`), async () => {
    const r = await idleRss(sys, P.idle);
    for (const n of P.idle) put(`rss_per_idle_conn_${n}_kib`, r[n] ?? 'not reached');
  });
  await guard(['latency_p50_ms', 'latency_p99_ms', 'starttls_p50_ms', 'starttls_p99_ms'], async () => {
    const r = await latency(sys);
    put('latency_p50_ms', r.p50);
    put('latency_p99_ms', r.p99);
    put('starttls_p50_ms', r.starttls_p50 ?? null);
    put('starttls_p99_ms', r.starttls_p99 ?? null);
  });
  await guard(['handshakes_per_s'], async () => put('handshakes_per_s', await handshakes(sys)));
  await guard(['bulk_one_way_mib_s'], async () => put('bulk_one_way_mib_s', await bulk(sys, P.bulkOne, false)));
  if (P.bulkBoth) await guard(['bulk_both_ways_mib_s'], async () => put('bulk_both_ways_mib_s', await bulk(sys, P.bulkBoth, true)));
}

function fmt(v: unknown): string {
  if (typeof v === 'number') return v >= 100 ? v.toFixed(0) : v.toFixed(2);
  if (v === null || v === undefined) return '-';
  return String(v).length > 14 ? 'ERR' : String(v);
}

async function main(): Promise<void> {
  const started = Date.now();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlspool-bench-'));
  const figs: Record<string, Fig> = {
    handshakes_per_s: { better: 'higher', unit: 'handshakes/s' },
    bulk_one_way_mib_s: { better: 'higher', unit: 'MiB/s' },
    ...(P.bulkBoth ? { bulk_both_ways_mib_s: { better: 'higher' as const, unit: 'MiB/s (sum of both directions)' } } : {}),
    latency_p50_ms: { better: 'lower', unit: 'ms (connect + handshake + first round trip)' },
    latency_p99_ms: { better: 'lower', unit: 'ms (connect + handshake + first round trip)' },
    starttls_p50_ms: { better: 'lower', unit: 'ms (STARTTLS request to response; pool only)' },
    starttls_p99_ms: { better: 'lower', unit: 'ms (STARTTLS request to response; pool only)' },
    ...Object.fromEntries(P.idle.map((n) => [`rss_per_idle_conn_${n}_kib`, { better: 'lower' as const, unit: 'KiB per established idle connection' }])),
  };
  log(`mode ${MODE}; openssl speed aes-128-gcm`);
  const aes = aesCeiling();
  try {
    for (const name of NAMES) {
      log(`${name}: starting`);
      let sys: System | undefined;
      try {
        sys = name === 'pool' ? await poolSystem() : name === 'stunnel' ? await stunnelSystem(dir) : await nodeTlsSystem();
        await measure(sys, figs);
      } catch (e) {
        log(`${name}: ${(e as Error).message}`);
        for (const f of Object.values(figs)) f[name] ??= `error: ${(e as Error).message}`;
      } finally {
        await sys?.stop().catch(() => {});
      }
    }
  } finally {
    killChildren();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  for (const f of Object.values(figs)) {
    const [p, s] = [f.pool, f.stunnel];
    const ratio = typeof p === 'number' && typeof s === 'number' && p > 0 && s > 0 ? (f.better === 'higher' ? p / s : s / p) : null;
    Object.assign(f, {
      ratio_vs_stunnel: ratio === null ? null : Math.round(ratio * 1000) / 1000,
      ratio_is: f.better === 'higher' ? 'pool/stunnel' : 'stunnel/pool',
    });
  }
  const cpu = /model name\s*:\s*(.*)/.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown';
  const result = {
    date: new Date().toISOString(),
    mode: MODE,
    machine: { nproc: os.cpus().length, cpu, node: process.version },
    params: P,
    tls: { version: 'TLS 1.3', cipher: SUITE, gnutls_priority: PRIORITY, certificates: 'ECDSA P-256' },
    aes_128_gcm_single_core: aes,
    event_loop_delay: 'not measured (needs instrumentation inside the daemon)',
    duration_s: 0,
    figures: figs,
  };
  result.duration_s = Math.round((Date.now() - started) / 100) / 10;
  const resultsDir = path.resolve(__dirname, '..', '..', 'bench', 'results');
  fs.mkdirSync(resultsDir, { recursive: true });
  fs.writeFileSync(path.join(resultsDir, 'latest.json'), JSON.stringify(result, null, 2) + '\n');

  const rows = [['figure', 'pool', 'stunnel', 'node_tls', 'vs stunnel', 'better']];
  for (const [k, f] of Object.entries(figs)) rows.push([k, fmt(f.pool), fmt(f.stunnel), fmt(f.node_tls), fmt((f as { ratio_vs_stunnel?: number }).ratio_vs_stunnel), f.better]);
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  console.log(`\nTLS Pool bench, ${MODE}, ${result.date}, ${result.machine.nproc} x ${cpu}`);
  for (const r of rows) console.log(r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  '));
  console.log(`AES-128-GCM single core (openssl speed, 16 KiB blocks): ${typeof aes === 'string' ? aes : `${aes.mib_s} MiB/s`}`);
  console.log('event-loop delay in the daemon: not measured');
  console.log(`(ratio > 1 means the pool is better; errors are in bench/results/latest.json) duration ${result.duration_s} s`);
}

const hardStop = setTimeout(() => {
  log('overall time limit reached; killing children');
  killChildren();
  process.exit(2);
}, QUICK ? 115000 : 1800000);
hardStop.unref();

main().then(
  () => {
    killChildren();
    process.exit(0);
  },
  (e) => {
    log(`failed: ${(e as Error).stack}`);
    killChildren();
    process.exit(1);
  },
);
