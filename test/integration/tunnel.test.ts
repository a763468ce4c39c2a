/**
 * `tlspool tunnel` as a user runs it: a real daemon, real tunnel processes,
 * real TCP on 127.0.0.1. A client tunnel and a server tunnel share one pool;
 * a plaintext service sits behind the server tunnel and plaintext clients
 * (this test) connect to the client tunnel:
 *
 *   test ──tcp──▶ client tunnel ══TLS══▶ server tunnel ──tcp──▶ backend
 *
 * Waits are bounded only to turn a hang into a failure; nothing is timed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { CLI, startDaemon, tempDir, type TestDaemon } from '../../harness/daemon';
import { CLIENT_EMAIL, getPki, SERVER_NAME, type TestPki } from '../../harness/pki';
import { startPeer, type Peer } from '../../harness/peers';
import { waitFor, waitForValue } from '../../harness/wait';

const MiB = 1 << 20;
/** A hang guard for each test, not a time limit on anything measured. */
const GUARD = { timeout: 60000 };
const OTHER_NAME = 'other.example.test';

function tlspool(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function cli(args: string[]): void {
  const r = tlspool(args);
  assert.equal(r.code, 0, `tlspool ${args.join(' ')}: ${r.stderr}`);
}

interface Tunnel {
  readonly proc: Peer;
  readonly port: number;
  /** stdout and stderr so far. */
  output(): string;
  /** Resolves with the line matching `pattern` once the tunnel printed it. */
  line(pattern: RegExp): Promise<string>;
  /** SIGTERM, and the exit code (or signal name). */
  stop(): Promise<number | string>;
}

/** Open descriptors of a tunnel process. */
function fds(t: Tunnel): number {
  return fs.readdirSync(`/proc/${t.proc.proc.pid}/fd`).length;
}

/** Wait until every connection the tunnel logged as opened is logged as closed too. */
async function idle(t: Tunnel): Promise<void> {
  const count = (word: string) => t.output().split('\n').filter((l) => new RegExp(`^tlspool tunnel: #\\d+ ${word}: `).test(l)).length;
  await waitFor('every opened connection closed', () => count('opened') === count('closed'));
}

async function startTunnel(args: string[]): Promise<Tunnel> {
  const proc = startPeer('tlspool tunnel', process.execPath, [CLI, 'tunnel', '--listen', '127.0.0.1:0', ...args]);
  const out = await proc.waitFor(/listening on 127\.0\.0\.1:\d+\n/);
  const port = Number(/listening on 127\.0\.0\.1:(\d+)\n/.exec(out)![1]);
  const find = (pattern: RegExp) => proc.output().split('\n').find((l) => pattern.test(l));
  return {
    proc,
    port,
    output: () => proc.output(),
    line: async (pattern) => {
      try {
        return await waitFor(`a tunnel line`, () => find(pattern));
      } catch {
        throw new Error(`no tunnel line matching ${pattern}; output:\n${proc.output()}`);
      }
    },
    stop: async () => {
      proc.proc.kill('SIGTERM');
      return proc.exited();
    },
  };
}

/**
 * The plaintext service behind the server tunnel. The first line says what
 * it does with the rest: "ECHO" sends it back; "HASH" answers
 * "<sha256 hex> <byte count>\n" after the client's EOF. Either way it ends
 * its side once the client ended its own.
 */
async function startBackend(): Promise<net.Server> {
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => {});
    let head: Buffer = Buffer.alloc(0);
    let mode: string | undefined;
    const hash = crypto.createHash('sha256');
    let count = 0;
    s.on('data', (chunk: Buffer) => {
      if (mode === undefined) {
        head = Buffer.concat([head, chunk]);
        const nl = head.indexOf(10);
        if (nl < 0) return;
        mode = head.subarray(0, nl).toString();
        chunk = head.subarray(nl + 1);
      }
      if (mode === 'ECHO') {
        if (!s.write(chunk)) {
          s.pause();
          s.once('drain', () => s.resume());
        }
      } else {
        hash.update(chunk);
        count += chunk.length;
      }
    });
    s.on('end', () => (mode === 'HASH' ? s.end(`${hash.digest('hex')} ${count}\n`) : s.end()));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

function portOf(server: net.Server): number {
  return (server.address() as net.AddressInfo).port;
}

async function connect(port: number): Promise<net.Socket> {
  const sock = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  await once(sock, 'connect');
  return sock;
}

interface Received {
  data: Buffer;
  /** The error code if the connection ended with one (ECONNRESET) rather than EOF. */
  error?: string;
}

/** Everything the socket receives until EOF or an error. */
function collect(sock: net.Socket): Promise<Received> {
  const chunks: Buffer[] = [];
  sock.on('data', (c: Buffer) => chunks.push(c));
  return new Promise((resolve) => {
    sock.once('end', () => resolve({ data: Buffer.concat(chunks) }));
    sock.once('error', (e: Error & { code?: string }) => resolve({ data: Buffer.concat(chunks), error: e.code ?? e.message }));
  });
}

/** Wait until `sock` has received exactly `expected` (so far). */
async function receive(sock: net.Socket, expected: Buffer): Promise<void> {
  let got: Buffer = Buffer.alloc(0);
  const onData = (c: Buffer) => {
    got = Buffer.concat([got, c]);
  };
  sock.on('data', onData);
  try {
    await waitFor(`${expected.length} bytes back`, () => got.length >= expected.length);
  } finally {
    sock.off('data', onData);
  }
  assert.deepEqual(got, expected);
}

function sha256(data: Buffer | string): string {
  return crypto.createHash('sha256').update(data).digest('hex');
}

/** A server certificate for OTHER_NAME from the test CA (the PKI helper has none for another name). */
function otherServerCert(pki: TestPki, dir: string): { certPath: string; keyPath: string } {
  const keyPath = path.join(dir, 'other.key');
  const certPath = path.join(dir, 'other.pem');
  const tmpl = path.join(dir, 'other.tmpl');
  execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', keyPath], { stdio: 'pipe' });
  fs.writeFileSync(tmpl, `cn = "${OTHER_NAME}"\ndns_name = "${OTHER_NAME}"\ntls_www_server\nsigning_key\nexpiration_days = 30\n`);
  execFileSync(
    'certtool',
    ['--generate-certificate', '--no-text', '--load-privkey', keyPath, '--load-ca-certificate', pki.ca.certPath, '--load-ca-privkey', pki.ca.keyPath, '--template', tmpl, '--outfile', certPath],
    { stdio: 'pipe' },
  );
  return { certPath, keyPath };
}

/** A daemon whose state has the server, alice and OTHER_NAME identities, and the test CA as trust anchor. */
async function startPool(pki: TestPki): Promise<TestDaemon> {
  const dir = tempDir('tlspool-tunnel-');
  const state = ['--state-dir', path.join(dir, 'state')];
  const other = otherServerCert(pki, dir);
  cli(['identity', 'add', SERVER_NAME, '--cert', pki.server.chainPath, '--key', pki.server.keyPath, ...state]);
  cli(['identity', 'add', CLIENT_EMAIL, '--cert', pki.client.chainPath, '--key', pki.client.keyPath, ...state]);
  cli(['identity', 'add', OTHER_NAME, '--cert', other.certPath, '--key', other.keyPath, ...state]);
  cli(['trust', 'add', pki.ca.certPath, ...state]);
  return startDaemon({ dir });
}

describe('tlspool tunnel through one pool', () => {
  let pki: TestPki;
  let daemon: TestDaemon;
  let backend: net.Server;
  let serverTunnel: Tunnel;
  let clientTunnel: Tunnel;
  const tunnels: Tunnel[] = [];

  const tunnel = async (args: string[]) => {
    const t = await startTunnel(['--socket', daemon.socket, ...args]);
    tunnels.push(t);
    return t;
  };
  /** `#N` of the connection the tunnel accepted from `sock`, from its "opened" line. */
  const opened = async (t: Tunnel, localPort: number, rest: string) => {
    const line = await t.line(new RegExp(`^tlspool tunnel: #\\d+ opened: 127\\.0\\.0\\.1:${localPort} -> `));
    assert.equal(line.replace(/^tlspool tunnel: #\d+ /, ''), `opened: 127.0.0.1:${localPort} -> ${rest}`);
    return /#(\d+)/.exec(line)![1];
  };

  before(async () => {
    pki = getPki();
    daemon = await startPool(pki);
    backend = await startBackend();
    serverTunnel = await tunnel(['--server', '--connect', `127.0.0.1:${portOf(backend)}`, '--local-id', SERVER_NAME]);
    clientTunnel = await tunnel([
      '--client',
      '--connect', `127.0.0.1:${serverTunnel.port}`,
      '--remote-id', SERVER_NAME,
      '--local-id', CLIENT_EMAIL,
    ]);
  }, GUARD);
  after(async () => {
    for (const t of tunnels) assert.equal(await t.stop(), 0, `tunnel exit code; output:\n${t.output()}`);
    backend?.close();
    assert.equal(await daemon.stop(), 0);
  }, GUARD);

  test('100 MiB arrive intact (SHA-256) through client tunnel, TLS, server tunnel; both log the connection and its bytes', { timeout: 300000 }, async () => {
    const sock = await connect(clientTunnel.port);
    const localPort = sock.localPort!;
    const reply = collect(sock);
    const hash = crypto.createHash('sha256');
    sock.write('HASH\n');
    for (let i = 0; i < 100; i++) {
      const chunk = crypto.randomBytes(MiB);
      hash.update(chunk);
      if (!sock.write(chunk)) await once(sock, 'drain');
    }
    sock.end();
    const expected = `${hash.digest('hex')} ${100 * MiB}\n`;
    const got = await reply;
    assert.equal(got.error, undefined);
    assert.equal(got.data.toString(), expected);

    const id = await opened(clientTunnel, localPort, `127.0.0.1:${serverTunnel.port}, local id ${CLIENT_EMAIL}, remote id ${SERVER_NAME}`);
    const sent = 5 + 100 * MiB;
    await clientTunnel.line(new RegExp(`^tlspool tunnel: #${id} closed: ${sent} bytes from 127\\.0\\.0\\.1:${localPort}, ${expected.length} bytes to it$`));
    await serverTunnel.line(
      new RegExp(`^tlspool tunnel: #\\d+ opened: 127\\.0\\.0\\.1:\\d+ -> 127\\.0\\.0\\.1:${portOf(backend)}, local id ${SERVER_NAME}, remote id ${CLIENT_EMAIL}$`),
    );
    await serverTunnel.line(new RegExp(`^tlspool tunnel: #\\d+ closed: ${sent} bytes from 127\\.0\\.0\\.1:\\d+, ${expected.length} bytes to it$`));
  });

  test('echo: a line comes back while the connection is open, then 1 MiB comes back intact', GUARD, async () => {
    const sock = await connect(clientTunnel.port);
    sock.write('ECHO\nhello over TLS\n');
    await receive(sock, Buffer.from('hello over TLS\n'));
    const reply = collect(sock);
    const payload = crypto.randomBytes(MiB);
    sock.end(payload);
    const got = await reply;
    assert.equal(got.error, undefined);
    assert.equal(got.data.length, payload.length);
    assert.ok(got.data.equals(payload), 'the echo equals what was sent');
  });

  test('half-close: the client ends its writing and still gets the answer the backend sends after that EOF', GUARD, async () => {
    const sock = await connect(clientTunnel.port);
    const reply = collect(sock);
    sock.end('HASH\nlast words');
    await once(sock, 'finish');
    const got = await reply;
    assert.equal(got.error, undefined);
    assert.equal(got.data.toString(), `${sha256('last words')} 10\n`);
  });

  test('20 connections at once, each over its own STARTTLS on the tunnel’s one pool connection; no descriptor stays behind', GUARD, async () => {
    await idle(clientTunnel);
    await idle(serverTunnel);
    const before = [fds(clientTunnel), fds(serverTunnel)];
    const payloads = Array.from({ length: 20 }, (_, i) => Buffer.concat([Buffer.from(`connection ${i}\n`), crypto.randomBytes(64 * 1024)]));
    const results = await Promise.all(
      payloads.map(async (p) => {
        const sock = await connect(clientTunnel.port);
        const reply = collect(sock);
        sock.end(Buffer.concat([Buffer.from('ECHO\n'), p]));
        return reply;
      }),
    );
    results.forEach((r, i) => {
      assert.equal(r.error, undefined);
      assert.ok(r.data.equals(payloads[i]!), `connection ${i} got its own bytes back`);
    });
    // The daemon's log: every client-side STARTTLS came over one pool connection, every server-side one over another.
    const established = daemon
      .logs()
      .split('\n')
      .filter((l) => l.includes('"STARTTLS established"'))
      .map((l) => JSON.parse(l) as { role: string; client: number });
    const clients = (role: string) => new Set(established.filter((e) => e.role === role).map((e) => e.client));
    assert.equal(clients('client').size, 1);
    assert.equal(clients('server').size, 1);
    assert.notDeepEqual(clients('client'), clients('server'));
    await idle(clientTunnel);
    await idle(serverTunnel);
    await waitForValue('client tunnel fd count', () => fds(clientTunnel), before[0]);
    await waitForValue('server tunnel fd count', () => fds(serverTunnel), before[1]);
  });

  test('a server whose certificate names someone else: that connection is closed, the tunnel logs EACCES and goes on serving', GUARD, async () => {
    // A TCP switch in front of two server tunnels: first the one that is OTHER_NAME, then the right one.
    const wrong = await tunnel(['--server', '--connect', `127.0.0.1:${portOf(backend)}`, '--local-id', OTHER_NAME, '--quiet']);
    let target = wrong.port;
    const sw = net.createServer({ allowHalfOpen: true }, (s) => {
      const out = net.connect({ port: target, host: '127.0.0.1', allowHalfOpen: true });
      s.on('error', () => out.destroy());
      out.on('error', () => s.destroy());
      s.pipe(out).pipe(s);
    });
    await new Promise<void>((r) => sw.listen(0, '127.0.0.1', r));
    try {
      const t = await tunnel(['--client', '--connect', `127.0.0.1:${portOf(sw)}`, '--remote-id', SERVER_NAME, '--local-id', CLIENT_EMAIL]);
      const fdsBefore = fds(t);

      const first = await connect(t.port);
      const firstPort = first.localPort!;
      const got = await collect(first);
      assert.equal(got.data.length, 0, 'nothing reaches the plaintext client');
      const line = await t.line(new RegExp(`#\\d+ failed: 127\\.0\\.0\\.1:${firstPort} -> `));
      assert.match(
        line,
        new RegExp(`^tlspool tunnel: #1 failed: 127\\.0\\.0\\.1:${firstPort} -> 127\\.0\\.0\\.1:${portOf(sw)}: STARTTLS: EACCES: TLS handshake failed: the server certificate is not for ${SERVER_NAME} \\(it names ${OTHER_NAME}\\)$`),
      );

      await waitForValue('tunnel fd count after the failure', () => fds(t), fdsBefore);

      target = serverTunnel.port;
      const second = await connect(t.port);
      const secondPort = second.localPort!;
      const reply = collect(second);
      second.end('ECHO\nstill serving\n');
      assert.equal((await reply).data.toString(), 'still serving\n');
      await opened(t, secondPort, `127.0.0.1:${portOf(sw)}, local id ${CLIENT_EMAIL}, remote id ${SERVER_NAME}`);
    } finally {
      sw.close();
    }
  });

  test('a server tunnel requires a client certificate by default; --request-remote-id makes it optional', GUARD, async () => {
    // A client tunnel with no --local-id shows no certificate.
    const anonymous = await tunnel(['--client', '--connect', `127.0.0.1:${serverTunnel.port}`, '--remote-id', SERVER_NAME]);
    const first = await connect(anonymous.port);
    const got = await collect(first);
    assert.equal(got.data.length, 0);
    await serverTunnel.line(/^tlspool tunnel: #\d+ failed: 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+: STARTTLS: EACCES: .*certificate/i);

    const lenient = await tunnel(['--server', '--connect', `127.0.0.1:${portOf(backend)}`, '--local-id', SERVER_NAME, '--request-remote-id']);
    const anonymous2 = await tunnel(['--client', '--connect', `127.0.0.1:${lenient.port}`, '--remote-id', SERVER_NAME]);
    const second = await connect(anonymous2.port);
    const secondPort = second.localPort!;
    const reply = collect(second);
    second.end('ECHO\nno certificate needed\n');
    assert.equal((await reply).data.toString(), 'no certificate needed\n');
    await opened(anonymous2, secondPort, `127.0.0.1:${lenient.port}, local id -, remote id ${SERVER_NAME}`);
    await lenient.line(new RegExp(`^tlspool tunnel: #1 opened: 127\\.0\\.0\\.1:\\d+ -> 127\\.0\\.0\\.1:${portOf(backend)}, local id ${SERVER_NAME}, remote id -$`));
  });

  test('--quiet leaves out the opened and closed lines', GUARD, async () => {
    const quiet = await tunnel(['--client', '--quiet', '--connect', `127.0.0.1:${serverTunnel.port}`, '--remote-id', SERVER_NAME, '--local-id', CLIENT_EMAIL]);
    const sock = await connect(quiet.port);
    const reply = collect(sock);
    sock.end('ECHO\nshh\n');
    assert.equal((await reply).data.toString(), 'shh\n');
    assert.equal(quiet.output(), `listening on 127.0.0.1:${quiet.port}\n`);
  });

  test('SIGTERM stops a tunnel with a connection open: exit 0, the connection is closed', GUARD, async () => {
    const t = await startTunnel(['--socket', daemon.socket, '--client', '--connect', `127.0.0.1:${serverTunnel.port}`, '--remote-id', SERVER_NAME, '--local-id', CLIENT_EMAIL]);
    const sock = await connect(t.port);
    const reply = collect(sock);
    sock.write('ECHO\nopen\n');
    await receive(sock, Buffer.from('open\n'));
    assert.equal(await t.stop(), 0);
    const got = await reply; // resolves once the connection ended (EOF, or a reset)
    assert.equal(got.data.toString(), 'open\n');
  });

  test('a listen address in use: exit 1 with one line', GUARD, async () => {
    const r = spawnSync(
      process.execPath,
      [CLI, 'tunnel', '--client', '--listen', `127.0.0.1:${serverTunnel.port}`, '--connect', '127.0.0.1:9', '--remote-id', SERVER_NAME, '--socket', daemon.socket],
      { encoding: 'utf8', timeout: 30000 },
    );
    assert.equal(r.status, 1);
    assert.equal(r.stderr, `tlspool tunnel: cannot listen on 127.0.0.1:${serverTunnel.port}: another program is using it; stop that program or choose another port (EADDRINUSE)\n`);
  });

  test('a backend that refuses: that connection is closed and logged, the tunnel goes on', GUARD, async () => {
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const deadPort = portOf(closed);
    await new Promise<void>((r) => closed.close(() => r()));
    const t = await tunnel(['--client', '--connect', `127.0.0.1:${deadPort}`, '--remote-id', SERVER_NAME]);
    const fdsBefore = fds(t);
    for (let i = 1; i <= 2; i++) {
      const sock = await connect(t.port);
      const localPort = sock.localPort!;
      assert.equal((await collect(sock)).data.length, 0);
      await t.line(new RegExp(`^tlspool tunnel: #${i} failed: 127\\.0\\.0\\.1:${localPort} -> 127\\.0\\.0\\.1:${deadPort}: connect: cannot connect to 127\\.0\\.0\\.1:${deadPort}: nothing accepts connections there; is the service running\\? \\(ECONNREFUSED\\)$`));
    }
    await waitForValue('tunnel fd count', () => fds(t), fdsBefore);
  });
});

describe('tlspool tunnel and the pool going away', () => {
  test('the pool stops while the tunnel runs: one line saying so, exit 1', GUARD, async () => {
    const daemon = await startDaemon();
    const t = await startTunnel(['--socket', daemon.socket, '--client', '--connect', '127.0.0.1:9', '--remote-id', SERVER_NAME]);
    assert.equal(await daemon.stop(), 0);
    assert.equal(await t.proc.exited(), 1);
    assert.equal(
      t.output(),
      `listening on 127.0.0.1:${t.port}\ntlspool tunnel: lost the connection to the TLS pool at ${daemon.socket} (the pool closed the connection); stopping\n`,
    );
  });
});

describe('tlspool tunnel usage', () => {
  const valid = ['--listen', '127.0.0.1:0', '--connect', '127.0.0.1:443'];
  const cases: Array<[string[], RegExp]> = [
    [[], /say --client or --server/],
    [['--client', '--server', ...valid], /--client and --server exclude each other/],
    [['--client', '--connect', '127.0.0.1:443', '--remote-id', 'a.example'], /--listen ADDR:PORT is required/],
    [['--client', '--listen', '127.0.0.1:0', '--remote-id', 'a.example'], /--connect HOST:PORT is required/],
    [['--client', '--listen', 'localhost', '--connect', 'x:1'], /--listen "localhost": expected ADDR:PORT, like 127\.0\.0\.1:8443/],
    [['--client', '--listen', '127.0.0.1:0', '--connect', '::1:443'], /--connect "::1:443": put an IPv6 address in brackets, like \[::1\]:443/],
    [['--client', '--listen', '127.0.0.1:0', '--connect', '[::1]443'], /expected \[IPV6\]:PORT/],
    [['--client', '--listen', '[not::v6::x]:1', '--connect', 'x:1'], /"not::v6::x" is not an IPv6 address/],
    [['--client', '--listen', '127.0.0.1:65536', '--connect', 'x:1'], /port 65536 is out of range/],
    [['--client', '--listen', '127.0.0.1:0', '--connect', 'x:0'], /--connect "x:0": port 0 is out of range \(1-65535\)/],
    [['--client', '--listen', '127.0.0.1:http', '--connect', 'x:1'], /"http" is not a port number/],
    [['--client', '--listen', ':8080', '--connect', 'x:1'], /the address is missing/],
    [['--client', ...valid], /--client needs --remote-id/],
    [['--client', ...valid, '--remote-id', 'not an id'], /--remote-id "not an id" is not an identity/],
    [['--client', ...valid, '--remote-id', 'a.example', '--ignore-remote-id'], /--ignore-remote-id goes with --server/],
    [['--server', ...valid], /--server needs --local-id/],
    [['--server', ...valid, '--local-id', 'a.example', '--no-sni'], /--no-sni goes with --client/],
    [['--server', ...valid, '--local-id', 'a.example', '--request-remote-id', '--ignore-remote-id'], /--request-remote-id and --ignore-remote-id exclude each other/],
    [['--server', ...valid, '--local-id', 'a.example', '--remote-id', 'b.example', '--ignore-remote-id'], /--remote-id and --ignore-remote-id exclude each other/],
    [['--client', ...valid, '--bogus'], /--bogus/],
    [['--client', ...valid, 'stray'], /stray/],
  ];
  for (const [args, message] of cases) {
    test(`tunnel ${args.join(' ') || '(nothing)'} exits 2 with one line`, GUARD, () => {
      const r = tlspool(['tunnel', ...args]);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stderr.split('\n').length, 2, `one line: ${r.stderr}`);
      assert.match(r.stderr, /^tlspool tunnel: /);
      assert.match(r.stderr, message);
      assert.equal(r.stdout, '');
    });
  }

  test('no pool at --socket: exit 1 with one line that says what to do', GUARD, () => {
    const socket = path.join(tempDir(), 'none.sock');
    const r = tlspool(['tunnel', '--server', '--listen', '[::1]:0', '--connect', 'localhost:80', '--local-id', SERVER_NAME, '--socket', socket]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `tlspool tunnel: cannot reach the TLS pool at ${socket}: ENOENT (is \`tlspool daemon\` running? Use --socket or TLSPOOL_SOCKET to point elsewhere)\n`);
    assert.equal(r.stdout, '');
  });

  test('--help shows both forms and every option, and exits 0', GUARD, () => {
    const r = tlspool(['tunnel', '--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^Usage: tlspool tunnel --client .*\n +tlspool tunnel --server /);
    for (const o of ['client', 'server', 'listen', 'connect', 'local-id', 'remote-id', 'no-sni', 'request-remote-id', 'ignore-remote-id', 'quiet', 'socket', 'config', 'help']) {
      assert.match(r.stdout, new RegExp(`^ .*--${o}\\b`, 'm'), `--${o} is in the help`);
    }
    assert.match(tlspool(['--help']).stdout, /^ {2}tunnel {2,}/m);
  });
});
