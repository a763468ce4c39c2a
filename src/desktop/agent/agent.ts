/**
 * DesktopAgent: what sits between the daemon's two sockets and a UI (the
 * Electron window, or a browser through `tlspool ui --web`). It is the PIN
 * entry program and the approval agent, keeps the UiState, and reconnects
 * by itself when the daemon goes away, so a UI never reloads.
 */
import * as path from 'node:path';
import { PoolClient } from '../../client/pool-client';
import { Failure } from '../../model/failure';
import { CONTROL_SOCKET_NAME } from '../../contract/control';
import type { DaemonView, UiState } from '../../contract/desktop';
import { ControlLink } from './control-link';
import { PinEntry } from './pin-entry';
import { UiStore, type UiListener } from './state';

export interface AgentOptions {
  /** The pool socket (tlspool.sock). */
  socket: string;
  /** Default: tlspool-control.sock beside the pool socket. */
  controlSocket?: string;
  mode: DaemonView['mode'];
  /** Connection rows kept in the state (default 200). */
  connectionLimit?: number;
  /** Reconnect delays: the first, doubling up to the last (default 250 ms → 5 s). */
  backoffMs?: { first: number; max: number };
}

export class DesktopAgent {
  readonly store: UiStore;
  readonly socket: string;
  readonly controlSocket: string;
  private readonly pinEntry: PinEntry;
  private readonly backoff: { first: number; max: number };
  private readonly connectionLimit: number;
  private pool: PoolClient | null = null;
  private controlLink: ControlLink | null = null;
  private timer: NodeJS.Timeout | null = null;
  private delay: number;
  private stopped = false;
  /** Bumped on every (re)connection, so callbacks of an old one change nothing. */
  private generation = 0;
  private wasUp = false;

  constructor(opts: AgentOptions) {
    this.socket = opts.socket;
    this.controlSocket = opts.controlSocket ?? path.join(path.dirname(opts.socket), CONTROL_SOCKET_NAME);
    this.connectionLimit = opts.connectionLimit ?? 200;
    this.backoff = opts.backoffMs ?? { first: 250, max: 5000 };
    this.delay = this.backoff.first;
    this.store = new UiStore(opts.mode, this.connectionLimit);
    this.pinEntry = new PinEntry(this.store, { retryMs: this.backoff.max });
  }

  get state(): UiState {
    return this.store.state;
  }

  subscribe(listener: UiListener): () => void {
    return this.store.subscribe(listener);
  }

  /** Start connecting; the state says how it goes. */
  start(): void {
    this.stopped = false;
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.disconnect();
  }

  /** The pool connection, for what only the V1 socket can do (LOCK without a control socket). */
  get poolClient(): PoolClient | null {
    return this.pool;
  }

  /** The control connection, or null while there is none (the daemon's message says why). */
  get control(): ControlLink | null {
    return this.controlLink;
  }

  private async connect(): Promise<void> {
    this.timer = null;
    if (this.stopped) return;
    const generation = ++this.generation;
    let pool: PoolClient | undefined;
    try {
      pool = PoolClient.connect(this.socket);
      await pool.ping();
    } catch (e) {
      pool?.close();
      this.retry(e instanceof Failure ? e.message : String(e));
      return;
    }
    if (this.stopped || generation !== this.generation) {
      pool.close();
      return;
    }
    this.pool = pool;
    pool.onClose(() => this.lost(generation, 'the pool socket closed'));
    void this.pinEntry.run(pool);
    this.delay = this.backoff.first;
    this.store.setDaemon({ up: true, message: 'connected to the TLS pool' });
    this.store.notice('info', this.wasUp ? 'the TLS pool is back; reconnected' : `connected to the TLS pool at ${this.socket}`);
    this.wasUp = true;
    await this.connectControl(generation);
  }

  /**
   * The control socket is optional for the agent: without it PIN entry still
   * works, and the state says what is missing. It is tried again while the
   * pool socket stays up.
   */
  private async connectControl(generation: number): Promise<void> {
    try {
      const link = await ControlLink.open(this.controlSocket, this.store, this.connectionLimit, (l) => {
        if (!this.stopped && generation === this.generation) this.controlLink = l;
      });
      if (this.stopped || generation !== this.generation) {
        link.client.close();
        return;
      }
      link.client.onClose(() => this.lost(generation, 'the control socket closed'));
      this.store.setDaemon({ up: true, message: 'connected to the TLS pool and its control socket' });
    } catch (e) {
      if (this.stopped || generation !== this.generation) return;
      this.controlLink = null;
      const why = (e as Error).message;
      this.store.setDaemon({
        up: true,
        message: `connected to the TLS pool for PIN entry; the control socket is unavailable (${why}), so connections, identities and approvals are not shown`,
      });
      this.timer = setTimeout(() => {
        this.timer = null;
        if (generation === this.generation && this.pool && !this.controlLink) void this.connectControl(generation);
      }, this.backoff.max);
    }
  }

  private lost(generation: number, why: string): void {
    if (generation !== this.generation || this.stopped) return;
    this.generation++;
    this.disconnect();
    this.store.notice('error', `the TLS pool went away (${why})`);
    this.retry(`the TLS pool went away (${why})`);
  }

  private retry(why: string): void {
    if (this.stopped) return;
    const seconds = (this.delay / 1000).toFixed(this.delay < 1000 ? 2 : 0);
    this.store.setDaemon({ up: false, message: `${why}; trying again in ${seconds} s` });
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.connect(), this.delay);
    this.delay = Math.min(this.delay * 2, this.backoff.max);
  }

  private disconnect(): void {
    const pool = this.pool;
    const link = this.controlLink;
    this.pool = null;
    this.controlLink = null;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.pinEntry.dropAll();
    pool?.close();
    link?.client.close();
    if (this.store.state.approvals.length > 0) this.store.setApprovals([]);
  }

  /** For the dispatcher: the PIN prompts this agent holds. */
  get pins(): PinEntry {
    return this.pinEntry;
  }
}
