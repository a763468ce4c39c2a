/**
 * A client of the control socket (JSON-RPC 2.0, one object per line): typed
 * calls by method name, and the notifications the daemon sends (events,
 * approval prompts). Used by the desktop agent, the CLI and tests.
 */
import * as net from 'node:net';
import { type ControlMethod, type ControlMethods, type ControlNotifications, errnoOfRpcError, type RpcError } from '../contract/control';
import { Failure } from '../model/failure';

/** A JSON-RPC error answer as a Failure: its errno and message. */
function answerFailure(error: RpcError): Failure {
  return Failure.named(errnoOfRpcError(error), error.message);
}

type Listener = (params: never) => void;

export class ControlClient {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly closeListeners = new Set<(error?: Error) => void>();
  /** Text of the line being received, in the chunks it came in. */
  private partial: string[] = [];
  private ended = false;

  private constructor(private readonly sock: net.Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (s: string) => this.receive(s));
    sock.on('error', (e) => this.end(e));
    sock.on('close', () => this.end());
  }

  /** Connect; rejects with a Failure that says what to do when nobody answers. */
  static connect(path: string): Promise<ControlClient> {
    return new Promise((resolve, reject) => {
      const sock = net.createConnection(path);
      sock.once('connect', () => {
        sock.removeAllListeners('error');
        resolve(new ControlClient(sock));
      });
      sock.once('error', (e: NodeJS.ErrnoException) => {
        const hint =
          e.code === 'ENOENT' || e.code === 'ECONNREFUSED'
            ? ' (is `tlspool daemon` running?)'
            : e.code === 'EACCES'
              ? ' (the control socket is open to the daemon’s own user only)'
              : '';
        reject(Failure.named(e.code, `cannot reach the TLS pool's control socket at ${path}: ${e.code}${hint}`));
      });
    });
  }

  get closed(): boolean {
    return this.ended;
  }

  call<M extends ControlMethod>(method: M, params: ControlMethods[M]['params']): Promise<ControlMethods[M]['result']> {
    if (this.ended) return Promise.reject(new Failure('EPIPE', 'the control connection is closed'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.sock.write(`${JSON.stringify({ jsonrpc: '2.0', id, method, params })}\n`);
    });
  }

  /** Listen for one kind of notification; returns the unsubscribe function. */
  on<N extends keyof ControlNotifications>(notification: N, listener: (params: ControlNotifications[N]) => void): () => void {
    let set = this.listeners.get(notification);
    if (!set) this.listeners.set(notification, (set = new Set()));
    set.add(listener as Listener);
    return () => set.delete(listener as Listener);
  }

  /** Called once when the connection ends (immediately if it already has). */
  onClose(listener: (error?: Error) => void): void {
    if (this.ended) queueMicrotask(() => listener());
    else this.closeListeners.add(listener);
  }

  close(): void {
    this.sock.destroy();
    this.end();
  }

  private receive(s: string): void {
    // Only the new text is searched: a long answer (100,000 connections is
    // tens of MB) arrives in many chunks, and rescanning it all is quadratic.
    let from = 0;
    for (let nl = s.indexOf('\n'); nl >= 0; nl = s.indexOf('\n', from)) {
      this.partial.push(s.slice(from, nl));
      const line = this.partial.join('');
      this.partial = [];
      from = nl + 1;
      if (line.trim() !== '') this.dispatch(line);
    }
    if (from < s.length) this.partial.push(s.slice(from));
  }

  private dispatch(line: string): void {
    let msg: { id?: number | null; method?: string; params?: unknown; result?: unknown; error?: RpcError };
    try {
      msg = JSON.parse(line);
    } catch {
      this.end(new Failure('EBADMSG', 'the daemon sent a line that is not JSON'));
      return;
    }
    if (typeof msg.method === 'string' && msg.id === undefined) {
      for (const l of this.listeners.get(msg.method) ?? []) l(msg.params as never);
      return;
    }
    const waiter = typeof msg.id === 'number' ? this.pending.get(msg.id) : undefined;
    if (!waiter) {
      // An error without an id: the daemon refused the connection itself (another uid).
      if (msg.error) this.end(answerFailure(msg.error));
      return;
    }
    this.pending.delete(msg.id as number);
    if (msg.error) waiter.reject(answerFailure(msg.error));
    else waiter.resolve(msg.result);
  }

  private end(error?: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.sock.destroy();
    const why = error ?? new Failure('EPIPE', 'the control connection closed');
    for (const p of this.pending.values()) p.reject(why);
    this.pending.clear();
    for (const l of this.closeListeners) l(error);
    this.closeListeners.clear();
  }
}
