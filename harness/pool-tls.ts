/**
 * Helpers for tests that run real STARTTLS through a live daemon: give it
 * identities and trust through the CLI, hand Node sockets to the pool, make
 * connected TCP pairs over loopback, and describe the daemon's open fds.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { promisify } from 'node:util';
import type { OwnedFd } from '../src/addon/ipc';
import { CLI, type TestDaemon } from './daemon';
import { takeFd } from '../src/addon/node-socket';

const run = promisify(execFile);

export interface IdentitySpec {
  readonly id: string;
  readonly certPath: string;
  readonly keyPath: string;
}

/** `tlspool identity add` for each identity and `tlspool trust add` for each CA, on the daemon's state directory. */
export async function provision(daemon: TestDaemon, identities: IdentitySpec[], trustPaths: string[]): Promise<void> {
  const sd = ['--state-dir', daemon.stateDir];
  for (const i of identities) {
    await run(process.execPath, [CLI, 'identity', 'add', i.id, '--cert', i.certPath, '--key', i.keyPath, ...sd]);
  }
  for (const t of trustPaths) await run(process.execPath, [CLI, 'trust', 'add', t, ...sd]);
}


/**
 * A loopback TCP listener that makes connected pairs. Accepted sockets are
 * matched to their connecting end by port, so pairs made concurrently never
 * get mixed up.
 */
export class TcpPairs {
  private readonly unclaimed = new Map<number, net.Socket>();
  private readonly waiting = new Map<number, (s: net.Socket) => void>();

  private constructor(readonly server: net.Server) {
    server.on('connection', (s) => {
      s.on('error', () => {
        /* a peer that resets is part of some tests */
      });
      const port = s.remotePort!;
      const w = this.waiting.get(port);
      if (w) {
        this.waiting.delete(port);
        w(s);
      } else {
        this.unclaimed.set(port, s);
      }
    });
  }

  static async listen(): Promise<TcpPairs> {
    const server = net.createServer({ pauseOnConnect: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return new TcpPairs(server);
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** Connect; resolves with both Node sockets (the accepted one paused). */
  async connect(): Promise<{ peer: net.Socket; accepted: net.Socket }> {
    const peer = net.connect(this.port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      peer.once('connect', () => resolve());
      peer.once('error', reject);
    });
    const port = peer.localPort!;
    const ready = this.unclaimed.get(port);
    if (ready) this.unclaimed.delete(port);
    const accepted = ready ?? (await new Promise<net.Socket>((r) => this.waiting.set(port, r)));
    return { peer, accepted };
  }

  /** A connected pair as fds, both owned by the caller: the connecting end (client) and the accepted end (server). */
  async pair(): Promise<{ client: OwnedFd; server: OwnedFd }> {
    const { peer, accepted } = await this.connect();
    return { client: takeFd(peer), server: takeFd(accepted) };
  }

  close(): Promise<void> {
    for (const s of this.unclaimed.values()) s.destroy();
    this.unclaimed.clear();
    return new Promise((r) => this.server.close(() => r()));
  }
}

/** What the daemon holds open, by kind ("socket", "anon_inode:[eventfd]", "pipe", a path): for assertion messages. */
export function fdSummary(pid: number): string {
  const dir = `/proc/${pid}/fd`;
  const kinds = new Map<string, number>();
  for (const name of fs.readdirSync(dir)) {
    let target: string;
    try {
      target = fs.readlinkSync(`${dir}/${name}`);
    } catch {
      continue; // closed meanwhile
    }
    const kind = target.replace(/:\[\d+\]$/, '');
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
  }
  return [...kinds].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${n} ${k}`).join(', ');
}
