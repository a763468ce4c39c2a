/**
 * Talking to a test daemon's control socket: the typed ControlClient, a raw
 * line client for tests that send broken requests, and a collector for the
 * notifications that arrive.
 */
import * as net from 'node:net';
import * as path from 'node:path';
import { ControlClient } from '../src/client/control-client';
import { CONTROL_SOCKET_NAME, type ControlNotifications } from '../src/contract/control';
import type { TestDaemon } from './daemon';
import { waitFor } from './wait';

/** Where the daemon puts its control socket by default: beside the pool socket. */
export function controlSocketOf(daemon: TestDaemon): string {
  return path.join(path.dirname(daemon.socket), CONTROL_SOCKET_NAME);
}

export function connectControl(daemon: TestDaemon): Promise<ControlClient> {
  return ControlClient.connect(controlSocketOf(daemon));
}

/** Every notification of one kind that arrives on `client`, in order. */
export function collect<N extends keyof ControlNotifications>(client: ControlClient, kind: N): ControlNotifications[N][] {
  const got: ControlNotifications[N][] = [];
  client.on(kind, (p) => got.push(p));
  return got;
}

/** Wait until `list` has an element `match` accepts; returns it. */
export function waitForItem<T>(what: string, list: readonly T[], match: (t: T) => boolean, timeoutMs = 20000): Promise<T> {
  return waitFor(what, () => list.find(match), timeoutMs);
}

/** A line-oriented raw connection: send any text, read the lines that come back. */
export class RawLines {
  readonly lines: string[] = [];
  private buffered = '';
  closed = false;

  private constructor(readonly sock: net.Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (s: string) => {
      this.buffered += s;
      for (let nl = this.buffered.indexOf('\n'); nl >= 0; nl = this.buffered.indexOf('\n')) {
        this.lines.push(this.buffered.slice(0, nl));
        this.buffered = this.buffered.slice(nl + 1);
      }
    });
    sock.on('error', () => {});
    sock.on('close', () => (this.closed = true));
  }

  static connect(socketPath: string): Promise<RawLines> {
    return new Promise((resolve, reject) => {
      const sock = net.createConnection(socketPath);
      sock.once('connect', () => resolve(new RawLines(sock)));
      sock.once('error', reject);
    });
  }

  send(text: string): void {
    this.sock.write(text);
  }

  /** The n-th line (0-based) parsed, once it arrived. */
  async line(n: number): Promise<{ id?: unknown; result?: unknown; error?: { code: number; message: string; data?: { code?: string } } }> {
    const l = await waitFor(`control answer line ${n + 1} (have ${this.lines.length})`, () => this.lines[n], 20000);
    return JSON.parse(l);
  }

  close(): void {
    this.sock.destroy();
  }
}
