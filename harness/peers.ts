/**
 * Real TLS peers for tests: `openssl s_server` / `s_client` and `gnutls-serv`
 * / `gnutls-cli` on 127.0.0.1 with a free port. Readiness is detected from
 * the tools' own output (never a fixed sleep); every peer started here is
 * killed by stop() or, failing that, when the test process exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as net from 'node:net';

export interface Peer {
  readonly name: string;
  readonly proc: ChildProcess;
  /** Server peers: the port they listen on. */
  readonly port: number;
  /** stdout and stderr so far, interleaved as they came. */
  output(): string;
  /** Resolves when the output matches (searched from the start); rejects after timeoutMs or if the peer exits first. */
  waitFor(pattern: RegExp | string, timeoutMs?: number): Promise<string>;
  /** Resolves with the exit code (or signal name) once the process ended. */
  exited(): Promise<number | string>;
  /** Write to the peer's stdin. */
  write(data: string | Buffer): void;
  /** Close the peer's stdin. */
  endInput(): void;
  /** Kill (SIGTERM, then SIGKILL) and wait for exit. Idempotent. */
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of live) {
    try {
      p.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
});

/** A port that was free a moment ago (bind to 0, read it, close). */
export async function freePort(kind: 'tcp' | 'udp' = 'tcp'): Promise<number> {
  if (kind === 'udp') {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(0, '127.0.0.1', () => resolve());
    });
    const port = s.address().port;
    await new Promise<void>((resolve) => s.close(() => resolve()));
    return port;
  }
  const srv = net.createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

export function startPeer(name: string, cmd: string, args: string[], port = 0): Peer {
  const proc = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  live.add(proc);
  let out = '';
  const waiters = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    out += chunk.toString('latin1');
    for (const w of [...waiters]) w();
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  proc.stdin!.on('error', () => {
    /* the peer may exit before reading its input */
  });
  let exitValue: number | string | undefined;
  const exitPromise = new Promise<number | string>((resolve) => {
    proc.once('exit', (code, signal) => {
      live.delete(proc);
      exitValue = code ?? signal ?? -1;
      for (const w of [...waiters]) w();
      resolve(exitValue);
    });
    proc.once('error', (err) => {
      live.delete(proc);
      out += `\n[spawn error: ${err.message}]\n`;
      exitValue = -1;
      for (const w of [...waiters]) w();
      resolve(-1);
    });
  });

  const peer: Peer = {
    name,
    proc,
    port,
    output: () => out,
    waitFor(pattern, timeoutMs = 10000) {
      const test = () => (typeof pattern === 'string' ? out.includes(pattern) : pattern.test(out));
      return new Promise<string>((resolve, reject) => {
        const check = () => {
          if (test()) {
            done();
            resolve(out);
          } else if (exitValue !== undefined) {
            done();
            reject(new Error(`${name} exited (${exitValue}) before printing ${String(pattern)}; output:\n${out}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`${name}: no ${String(pattern)} within ${timeoutMs} ms; output:\n${out}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    exited: () => exitPromise,
    write(data) {
      proc.stdin!.write(data);
    },
    endInput() {
      proc.stdin!.end();
    },
    async stop() {
      if (exitValue !== undefined) return;
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 2000);
      await exitPromise;
      clearTimeout(t);
    },
  };
  return peer;
}

export interface ServerPeerOptions {
  certPath: string;
  keyPath: string;
  /** CA file to verify client certificates with. */
  caPath?: string;
}

export interface OpensslServerOptions extends ServerPeerOptions {
  /** Force one version. */
  version?: '1.2' | '1.3';
  /** -Verify 1 (require a client certificate) or -verify 1 (ask for one). */
  clientCert?: 'require' | 'request';
  /** -rev: send back every received line reversed. */
  rev?: boolean;
  /** DTLS 1.2 over UDP. */
  dtls?: boolean;
  extraArgs?: string[];
}

/** `openssl s_server` on 127.0.0.1; resolves once it printed ACCEPT. */
export async function startOpensslServer(opts: OpensslServerOptions): Promise<Peer> {
  const port = await freePort(opts.dtls ? 'udp' : 'tcp');
  const args = ['s_server', '-accept', `127.0.0.1:${port}`, '-cert', opts.certPath, '-key', opts.keyPath];
  if (opts.version === '1.2') args.push('-tls1_2');
  if (opts.version === '1.3') args.push('-tls1_3');
  if (opts.dtls) args.push('-dtls1_2');
  if (opts.caPath) args.push('-CAfile', opts.caPath);
  if (opts.clientCert === 'require') args.push('-Verify', '1', '-verify_return_error');
  if (opts.clientCert === 'request') args.push('-verify', '1');
  if (opts.rev) args.push('-rev');
  args.push(...(opts.extraArgs ?? []));
  const peer = startPeer('openssl s_server', 'openssl', args, port);
  try {
    await peer.waitFor('ACCEPT');
  } catch (err) {
    await peer.stop();
    throw err;
  }
  return peer;
}

export interface GnutlsServerOptions extends ServerPeerOptions {
  udp?: boolean;
  /** Echo received data back (default true). */
  echo?: boolean;
  clientCert?: 'require' | 'request' | 'none';
  priority?: string;
  extraArgs?: string[];
}

/** `gnutls-serv`; resolves once it says it listens. */
export async function startGnutlsServer(opts: GnutlsServerOptions): Promise<Peer> {
  const port = await freePort(opts.udp ? 'udp' : 'tcp');
  const args = ['--port', String(port), '--x509certfile', opts.certPath, '--x509keyfile', opts.keyPath];
  if (opts.echo ?? true) args.push('--echo');
  if (opts.udp) args.push('--udp');
  if (opts.caPath) args.push('--x509cafile', opts.caPath);
  const cc = opts.clientCert ?? 'none';
  if (cc === 'none') args.push('--disable-client-cert');
  if (cc === 'require') args.push('--require-client-cert', '--verify-client-cert');
  if (opts.priority) args.push('--priority', opts.priority);
  args.push(...(opts.extraArgs ?? []));
  const peer = startPeer('gnutls-serv', 'gnutls-serv', args, port);
  try {
    await peer.waitFor(/listening on IPv4 .* port \d+\.\.\.done/);
  } catch (err) {
    await peer.stop();
    throw err;
  }
  return peer;
}

export interface ClientPeerOptions {
  port: number;
  serverName?: string;
  caPath?: string;
  certPath?: string;
  keyPath?: string;
  version?: '1.2' | '1.3';
  extraArgs?: string[];
}

/** `openssl s_client` to 127.0.0.1:port. Its stdin goes to the server; see `output()` for what came back. */
export function startOpensslClient(opts: ClientPeerOptions): Peer {
  const args = ['s_client', '-connect', `127.0.0.1:${opts.port}`, '-ign_eof'];
  if (opts.serverName) args.push('-servername', opts.serverName);
  if (opts.caPath) args.push('-CAfile', opts.caPath, '-verify_return_error');
  if (opts.certPath) args.push('-cert', opts.certPath);
  if (opts.keyPath) args.push('-key', opts.keyPath);
  if (opts.version === '1.2') args.push('-tls1_2');
  if (opts.version === '1.3') args.push('-tls1_3');
  args.push(...(opts.extraArgs ?? []));
  return startPeer('openssl s_client', 'openssl', args);
}

/** `gnutls-cli` to 127.0.0.1:port. */
export function startGnutlsClient(opts: ClientPeerOptions & { priority?: string }): Peer {
  const args = ['--port', String(opts.port)];
  if (opts.caPath) args.push('--x509cafile', opts.caPath);
  else args.push('--insecure');
  if (opts.certPath) args.push('--x509certfile', opts.certPath);
  if (opts.keyPath) args.push('--x509keyfile', opts.keyPath);
  if (opts.serverName) args.push('--sni-hostname', opts.serverName, '--verify-hostname', opts.serverName);
  if (opts.priority) args.push('--priority', opts.priority);
  args.push(...(opts.extraArgs ?? []), '127.0.0.1');
  return startPeer('gnutls-cli', 'gnutls-cli', args);
}
