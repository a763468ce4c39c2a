/**
 * The service manager's readiness protocol (sd_notify(3)): state lines such
 * as READY=1, STOPPING=1 and STATUS=… sent as datagrams to $NOTIFY_SOCKET,
 * for a unit of Type=notify. Without NOTIFY_SOCKET every call does nothing.
 */
import { notifySocket } from '../../addon/sys';
import type { Logger } from '../../log/logger';

/** STATUS= lines go out at most this often; the last change is always sent. */
const STATUS_INTERVAL_MS = 1000;

export class Notifier {
  private lastStatusAt = 0;
  private pending: NodeJS.Timeout | undefined;
  private status: string | undefined;
  private sentStatus: string | undefined;
  private warned = false;
  /** Between READY=1 and STOPPING=1: the only time STATUS= changes are sent. */
  private serving = false;

  private constructor(
    private readonly socket: string | undefined,
    private readonly log: Logger,
  ) {}

  /** A notifier for $NOTIFY_SOCKET of `env`, which it removes there (children must not notify for us). */
  static fromEnv(env: NodeJS.ProcessEnv, log: Logger): Notifier {
    const socket = env.NOTIFY_SOCKET || undefined;
    delete env.NOTIFY_SOCKET;
    return new Notifier(socket, log);
  }

  get enabled(): boolean {
    return this.socket !== undefined;
  }

  /** READY=1 (the pool answers on its sockets), with the status line and the main pid. */
  ready(status: string): void {
    this.status = this.sentStatus = status;
    this.lastStatusAt = Date.now();
    this.serving = true;
    this.send(`READY=1\nMAINPID=${process.pid}\nSTATUS=${status}`);
  }

  /** STOPPING=1: shutdown has begun. No STATUS= after this. */
  stopping(status: string): void {
    clearTimeout(this.pending);
    this.pending = undefined;
    this.serving = false;
    this.status = this.sentStatus = status;
    this.send(`STOPPING=1\nSTATUS=${status}`);
  }

  /** A new status line; sent now, or within STATUS_INTERVAL_MS if one went out just before. Only while serving. */
  setStatus(status: string): void {
    if (!this.serving || !this.enabled) return;
    this.status = status;
    if (this.pending) return;
    const wait = this.lastStatusAt + STATUS_INTERVAL_MS - Date.now();
    if (wait <= 0) this.flushStatus();
    else this.pending = setTimeout(() => this.flushStatus(), wait).unref();
  }

  private flushStatus(): void {
    this.pending = undefined;
    if (!this.serving || this.status === undefined || this.status === this.sentStatus) return;
    this.sentStatus = this.status;
    this.lastStatusAt = Date.now();
    this.send(`STATUS=${this.status}`);
  }

  private send(message: string): void {
    if (this.socket === undefined) return;
    try {
      notifySocket(this.socket, message);
    } catch (e) {
      // The manager's socket gone or full: the service goes on; said once.
      if (!this.warned) this.log.warn('cannot notify the service manager', { notify_socket: this.socket, error: e });
      this.warned = true;
    }
  }
}
