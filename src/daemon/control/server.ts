/**
 * The control socket (`tlspool-control.sock`): JSON-RPC 2.0, one object per
 * line, for the daemon's own uid and root only (SO_PEERCRED, read by the
 * native listener at accept). Every request gets exactly one answer; a line
 * that is not JSON, an unknown method or bad params get an error answer and
 * the connection goes on; only a line over MAX_LINE ends it.
 */
import type { UnixConnection } from '../../addon/ipc';
import type { Logger } from '../../log/logger';
import { adoptListening, bindOwnerOnly, type BoundSocket, peerExecutable } from '../server/socket-path';
import { RpcErrorCode, rpcCodeFor, type RpcError } from '../../contract/control';
import { codeOf, Failure, hasErrno, messageOf } from '../../model/failure';
import { FD_NAMES } from '../systemd/activation';

/** How long a refused connection stays open for its refusal to be read. */
const REFUSAL_LINGER_MS = 2000;

/** Unsent output above which a connection's requests wait, unread, until it is all written. */
export const OUTPUT_HIGH_WATER = 1024 * 1024;

/** Requests of one connection answered at once (most answer at once; a few wait on tokens). */
export const MAX_IN_FLIGHT = 16;

/** Unsent event notifications (bytes) a subscriber may have before it is closed. */
export const MAX_QUEUED_EVENTS = 1024 * 1024;

/** Longest request line accepted (bytes, without the newline). */
export const MAX_LINE = 1024 * 1024;

/** One accepted control connection, as the method handlers see it. */
export interface ControlPeer {
  readonly id: number;
  readonly pid: number;
  readonly uid: number;
  readonly executable?: string;
  /** Send a notification (a request without id); false once closed. */
  notify(method: string, params: unknown): boolean;
  /** Run `f` when the connection closes (at once if it has). */
  onClose(f: () => void): void;
}

/** The answer, or a promise of it; throws (or rejects) to answer with an error. */
export type Dispatch = (peer: ControlPeer, method: string, params: unknown) => unknown;

export class ControlServer {
  private bound: BoundSocket | undefined;
  private nextId = 1;
  private readonly conns = new Set<ControlConnection>();

  constructor(
    readonly socket: string,
    private readonly dispatch: Dispatch,
    private readonly log: Logger,
  ) {}

  /** Bind the socket path, or with `fd` accept on the socket systemd passed there (its path is `path` then). */
  listen(fd?: number): void {
    const onConnection = (conn: UnixConnection) => this.accept(conn);
    this.bound =
      fd === undefined
        ? bindOwnerOnly(this.socket, 32, this.log, onConnection)
        : adoptListening(fd, { name: FD_NAMES.control, fix: 'the control socket is for the daemon\'s user and root only: set SocketMode=0600' }, this.log, onConnection);
  }

  /** Where it listens. */
  get path(): string {
    return this.bound?.path ?? this.socket;
  }

  get connectionCount(): number {
    return this.conns.size;
  }

  close(): void {
    this.bound?.stopListening();
    for (const c of [...this.conns]) c.close();
    this.bound?.unlink();
  }

  private accept(conn: UnixConnection): void {
    const ours = process.getuid!();
    if (conn.peer.uid !== ours && conn.peer.uid !== 0) {
      this.log.warn('control connection refused', { pid: conn.peer.pid, uid: conn.peer.uid });
      const error: RpcError = {
        code: RpcErrorCode.REFUSED,
        message: `the control socket serves only uid ${ours} (the daemon's user) and root, not uid ${conn.peer.uid}`,
        data: { code: 'EPERM' },
      };
      conn.send(Buffer.from(`${JSON.stringify({ jsonrpc: '2.0', id: null, error })}\n`));
      // Closing at once, with the peer's request unread, could reset the
      // connection before the peer read the refusal: read and drop what it
      // sends, and close when it does or a moment later.
      const timer = setTimeout(() => conn.close(), REFUSAL_LINGER_MS).unref();
      conn.start(
        (_chunk, fds) => fds.forEach((fd) => fd.close()),
        () => {
          clearTimeout(timer);
          conn.close();
        },
      );
      return;
    }
    const executable = peerExecutable(conn.peer.pid);
    const c = new ControlConnection(this.nextId++, conn, executable, this.dispatch, this.log, () => this.conns.delete(c));
    this.conns.add(c);
    c.start();
  }
}

class ControlConnection implements ControlPeer {
  /** Bytes of a line not yet ended by a newline. */
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;
  /** Whole request lines waiting their turn (from `next` on). */
  private lines: string[] = [];
  private next = 0;
  /** Requests whose answer is a promise not yet settled. */
  private inFlight = 0;
  /** pauseReading() is in force. */
  private readingHeld = false;
  /** whenDrained() is asked. */
  private drainAsked = false;
  /** Every byte handed to the socket so far: with its queuedBytes, how much has been written. */
  private sentBytes = 0;
  /** Notifications not known to be written: where each ends in the stream, and its length (from `eventsHead` on). */
  private events: Array<{ end: number; length: number }> = [];
  private eventsHead = 0;
  private eventBytes = 0;
  private closed = false;
  /** A line was too long: nothing more is read while the refusal goes out. */
  private refusing = false;
  private readonly closeHandlers: Array<() => void> = [];

  constructor(
    readonly id: number,
    private readonly conn: UnixConnection,
    readonly executable: string | undefined,
    private readonly dispatch: Dispatch,
    private readonly log: Logger,
    private readonly onClosed: () => void,
  ) {}

  get pid(): number {
    return this.conn.peer.pid;
  }

  get uid(): number {
    return this.conn.peer.uid;
  }

  start(): void {
    this.log.debug('control connection', { control: this.id, pid: this.pid, executable: this.executable });
    this.conn.start(
      (chunk, fds) => {
        // Nothing here takes descriptors: close any that were sent.
        for (const fd of fds) fd.close();
        this.receive(chunk);
      },
      () => this.close(),
    );
  }

  notify(method: string, params: unknown): boolean {
    if (this.closed) return false;
    // A subscriber that stops reading must not make the daemon hold its events without bound.
    const queued = this.queuedEventBytes();
    if (queued > MAX_QUEUED_EVENTS) {
      this.log.warn('control client does not read its events; closing it', {
        control: this.id,
        pid: this.pid,
        executable: this.executable,
        queuedEvents: queued,
        queued: this.conn.queuedBytes,
      });
      this.close();
      return false;
    }
    return this.send({ jsonrpc: '2.0', method, params }, true);
  }

  onClose(f: () => void): void {
    if (this.closed) f();
    else this.closeHandlers.push(f);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.conn.close();
    this.lines = [];
    this.events = [];
    this.onClosed();
    for (const f of this.closeHandlers.splice(0)) {
      try {
        f();
      } catch (e) {
        this.log.error('control close handler failed', { error: e });
      }
    }
  }

  private send(msg: object, isEvent = false): boolean {
    if (this.closed) return false;
    const data = Buffer.from(`${JSON.stringify(msg)}\n`);
    if (!this.conn.send(data)) return false;
    this.sentBytes += data.length;
    if (isEvent) {
      this.events.push({ end: this.sentBytes, length: data.length });
      this.eventBytes += data.length;
    }
    return true;
  }

  /** Bytes of notifications still unsent: the output is one ordered stream, so those past what has been written. */
  private queuedEventBytes(): number {
    const written = this.sentBytes - this.conn.queuedBytes;
    const ev = this.events;
    while (this.eventsHead < ev.length && ev[this.eventsHead]!.end <= written) this.eventBytes -= ev[this.eventsHead++]!.length;
    if (this.eventsHead === ev.length) {
      this.events = [];
      this.eventsHead = 0;
      this.eventBytes = 0;
      return 0;
    }
    if (this.eventsHead > 1024 && this.eventsHead * 2 > ev.length) {
      this.events = ev.slice(this.eventsHead);
      this.eventsHead = 0;
    }
    const first = this.events[this.eventsHead]!;
    return this.eventBytes - Math.max(0, written - (first.end - first.length));
  }

  private receive(chunk: Buffer): void {
    if (this.closed || this.refusing) return;
    let start = 0;
    for (let nl = chunk.indexOf(10); nl >= 0; nl = chunk.indexOf(10, start)) {
      const piece = chunk.subarray(start, nl);
      start = nl + 1;
      const line = this.bufferedBytes === 0 ? piece : Buffer.concat([...this.buffered, piece]);
      this.buffered = [];
      this.bufferedBytes = 0;
      if (line.length > MAX_LINE) return this.oversize();
      this.lines.push(line.toString('utf8'));
    }
    const rest = chunk.subarray(start);
    if (rest.length > 0) {
      this.buffered.push(Buffer.from(rest));
      this.bufferedBytes += rest.length;
      if (this.bufferedBytes > MAX_LINE) return this.oversize();
    }
    this.pump();
  }

  /** Whether the next request must wait: too much output unsent, or too many answers pending. */
  private blocked(): boolean {
    return this.inFlight >= MAX_IN_FLIGHT || this.conn.queuedBytes > OUTPUT_HIGH_WATER;
  }

  /** Handle the waiting requests that may go now; hold reading while the next must wait. */
  private pump(): void {
    while (!this.closed && !this.refusing && this.next < this.lines.length && !this.blocked()) {
      const line = this.lines[this.next++]!;
      if (this.next === this.lines.length) {
        this.lines = [];
        this.next = 0;
      }
      this.handleLine(line);
    }
    if (this.closed || this.refusing) return;
    const hold = this.blocked();
    if (hold !== this.readingHeld) {
      this.readingHeld = hold;
      if (hold) this.conn.pauseReading();
      else this.conn.resumeReading();
    }
    if (hold && this.conn.queuedBytes > OUTPUT_HIGH_WATER && !this.drainAsked) {
      this.drainAsked = true;
      this.conn.whenDrained(() => {
        this.drainAsked = false;
        this.pump();
      });
    }
  }

  private oversize(): void {
    // The requests before the long line go as they may; those that must wait are dropped with the connection.
    this.pump();
    if (this.closed) return;
    this.log.warn('control request too long; closing', { control: this.id, pid: this.pid });
    this.send({
      jsonrpc: '2.0',
      id: null,
      error: { code: RpcErrorCode.INVALID_REQUEST, message: `a request line may be at most ${MAX_LINE} bytes; closing the connection`, data: { code: 'EMSGSIZE' } },
    });
    // The rest of the line is read and dropped; closing with it unread could
    // reset the connection before the peer read the answer. Requests that
    // were waiting are dropped with it.
    this.refusing = true;
    this.buffered = [];
    this.bufferedBytes = 0;
    this.lines = [];
    this.next = 0;
    if (this.readingHeld) {
      this.readingHeld = false;
      this.conn.resumeReading();
    }
    setTimeout(() => this.close(), REFUSAL_LINGER_MS).unref();
  }

  private handleLine(line: string): void {
    if (line.trim() === '') return;
    let msg: unknown;
    try {
      msg = JSON.parse(line);
    } catch (e) {
      this.answerError(null, new Failure('EBADMSG', `the line is not JSON (${(e as Error).message}); send one JSON-RPC 2.0 object per line`));
      return;
    }
    const m = msg as { jsonrpc?: unknown; id?: unknown; method?: unknown; params?: unknown };
    const id = typeof m?.id === 'number' || typeof m?.id === 'string' ? m.id : null;
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg) || m.jsonrpc !== '2.0' || typeof m.method !== 'string') {
      this.answerError(id, new Failure('EPROTO', 'a request is an object with "jsonrpc": "2.0", a string "method", an "id" and optional "params"'));
      return;
    }
    const isNotification = m.id === undefined;
    const method = m.method;
    const answer = (result: unknown) => {
      if (!isNotification) this.send({ jsonrpc: '2.0', id, result });
    };
    const fail = (e: unknown) => {
      if (!isNotification) this.answerError(id, e);
      else this.log.debug('control notification failed', { control: this.id, method, error: e });
    };
    let result: unknown;
    try {
      result = this.dispatch(this, method, m.params ?? {});
    } catch (e) {
      fail(e);
      return;
    }
    if (!(result instanceof Promise)) {
      answer(result);
      return;
    }
    this.inFlight++;
    result.then(answer, fail).finally(() => {
      this.inFlight--;
      this.pump();
    });
  }

  private answerError(id: unknown, e: unknown): void {
    // A Failure, or a system error with an errno name, is a refusal whose
    // message says what to do; anything else is a bug, logged here.
    const refusal = hasErrno(e);
    if (!refusal) this.log.error('control method failed', { control: this.id, error: e });
    const error: RpcError = refusal
      ? { code: rpcCodeFor(codeOf(e)), message: messageOf(e), data: { code: codeOf(e) } }
      : { code: RpcErrorCode.INTERNAL_ERROR, message: `internal error: ${messageOf(e)}; the daemon's log has the details`, data: { code: 'EIO' } };
    this.send({ jsonrpc: '2.0', id, error });
  }
}
