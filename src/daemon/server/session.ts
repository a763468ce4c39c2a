/**
 * One client connection to the pool socket: decides its protocol by the
 * first packet (V1 or V2, protocol/detect.ts), frames its bytes into
 * commands, runs a handler per request, and keeps the protocol's promises —
 * every request gets exactly one final response with its reqid, callback
 * ids are issued and matched within this connection only, and a client that
 * leaves has all its work cancelled and its fds closed.
 */
import { MalformedPacket, type Packet } from '../../protocol/codec';
import { cmdName } from '../../protocol/constants';
import type { OwnedFd, UnixConnection } from '../../addon/ipc';
import type { Logger } from '../../log/logger';
import { COMMAND_SIZE } from '../../protocol/layout';
import { Framer, type Frame } from '../../protocol/framer';
import { type Dialect, type Held, ProtocolDetector, V2_TAIL_WAIT_MS } from '../../protocol/detect';
import type { V2Packet } from '../../protocol/v2-codec';
import type { Answer, ClientInfo, Handler, Request, Response } from './request';
import { v1Wire, type Wire, type WireHead } from './wire';
import { earlyV2Wire, v2Wire } from '../v2/wire';
import { Failure, toFailure } from '../../model/failure';
import { byteLength, MESSAGE_BYTES } from '../../protocol/wire-text';

/** A client may have this many requests outstanding; more get ERROR EAGAIN. */
export const MAX_OUTSTANDING = 1024;

interface Outstanding {
  readonly reqid: number;
  readonly controller: AbortController;
  done: Promise<void>;
}

interface PendingCallback {
  readonly reqid: number;
  resolve(packet: WireHead, fd: OwnedFd | undefined): void;
}

export type HandlerLookup<P = Packet> = (cmd: number) => Handler<P> | undefined;

/** The handlers of each protocol; a connection uses one set, by its protocol. */
export interface Handlers {
  readonly v1: HandlerLookup;
  readonly v2?: HandlerLookup<V2Packet>;
  /** Told when a connection closes (after its requests were cancelled). */
  readonly closed?: (client: ClientInfo) => void;
}

const V1 = v1Wire((cmd) => new Failure('ENOSYS', `command ${cmdName(cmd)} is not supported by this pool`));

export class ClientSession {
  private readonly detector = new ProtocolDetector<OwnedFd>();
  private wire: Wire | undefined;
  private framer: Framer<OwnedFd> | undefined;
  private lookup: (cmd: number) => Handler<WireHead> | undefined = () => undefined;
  private tailTimer: NodeJS.Timeout | undefined;
  private readonly outstanding = new Set<Outstanding>();
  private readonly callbacks = new Map<number, PendingCallback>();
  private lastCbid = 0;
  private closed = false;

  constructor(
    private readonly conn: UnixConnection,
    readonly info: ClientInfo,
    private readonly handlers: Handlers,
    private readonly log: Logger,
    private readonly onClosed: (session: ClientSession) => void,
  ) {}

  start(): void {
    this.conn.start(
      (chunk, fds, fdsLost) => this.receive(chunk, fds, fdsLost),
      (error) => this.end(error ? `connection error: ${error.code}` : 'client disconnected'),
      // One command start per read: an fd goes to the command it came with (a
      // read of at most 376 bytes holds at most one start of a 388-byte V2 command too).
      COMMAND_SIZE,
    );
  }

  get outstandingCount(): number {
    return this.outstanding.size;
  }

  /** The connection's protocol, once its first packet has decided it. */
  get protocol(): Dialect | undefined {
    return this.wire?.name;
  }

  /**
   * Cancel everything this client is waiting for and wait (bounded) for the
   * handlers to answer, then close the connection. Used at daemon shutdown.
   */
  async shutdown(reason: string, graceMs: number): Promise<void> {
    for (const o of this.outstanding) o.controller.abort(new Failure('ESHUTDOWN', reason));
    const settled = Promise.all([...this.outstanding].map((o) => o.done));
    await Promise.race([settled, new Promise((r) => setTimeout(r, graceMs).unref())]);
    this.end(reason);
  }

  private receive(chunk: Buffer, fds: OwnedFd[], fdsLost: boolean): void {
    if (this.closed) {
      for (const fd of fds) fd.close();
      return;
    }
    if (this.framer) {
      for (const frame of this.framer.push(chunk, fds, fdsLost)) this.dispatch(frame);
      return;
    }
    const d = this.detector.push(chunk, fds, fdsLost, () => this.conn.inputBytes);
    if (d.state === 'wait-tail') {
      this.tailTimer ??= setTimeout(() => {
        const late = this.detector.timeout();
        if (late.state === 'decided' && !this.closed) this.adopt(late.dialect, late.chunks);
      }, V2_TAIL_WAIT_MS);
    } else if (d.state === 'decided') {
      this.adopt(d.dialect, d.chunks);
    }
  }

  /** The protocol is decided: frame what was held back, in order, and go on so. */
  private adopt(dialect: Dialect, chunks: Held<OwnedFd>[]): void {
    clearTimeout(this.tailTimer);
    const v2 = this.handlers.v2;
    if (dialect === 'v2' && v2) {
      this.wire = v2Wire as unknown as Wire;
      this.lookup = v2 as unknown as typeof this.lookup;
    } else if (dialect === 'v1') {
      this.wire = V1 as unknown as Wire;
      this.lookup = this.handlers.v1 as unknown as typeof this.lookup;
    } else {
      // An early V2 client, or V2 in a pool without V2 handlers: every request is refused.
      this.wire = earlyV2Wire as unknown as Wire;
      this.lookup = () => undefined;
    }
    this.framer = new Framer<OwnedFd>(this.wire.size);
    this.log.debug('protocol', { client: this.info.id, protocol: this.wire.name });
    for (const c of chunks) {
      if (this.closed) {
        for (const fd of c.fds) fd.close();
        continue;
      }
      for (const frame of this.framer.push(c.bytes, c.fds, c.fdsLost)) this.dispatch(frame);
    }
  }

  private dispatch(frame: Frame<OwnedFd>): void {
    const wire = this.wire!;
    let packet: WireHead;
    try {
      packet = wire.decode(frame.bytes);
    } catch (e) {
      if (wire.holdsSecret(wire.decodeHeader(frame.bytes).cmd)) frame.bytes.fill(0);
      frame.fd?.close();
      if (!(e instanceof MalformedPacket)) throw e;
      this.log.debug('malformed command', { client: this.info.id, cmd: wire.cmdName(e.cmd), reason: e.message });
      this.send(wire.error(e.reqid, 0, new Failure('EINVAL', `malformed ${wire.cmdName(e.cmd)}: ${e.message}`)));
      return;
    }

    // The PIN now lives only in the decoded packet's own copy.
    if (wire.holdsSecret(packet.cmd)) frame.bytes.fill(0);
    if (packet.cbid !== 0 && this.followUp(packet, frame.fd)) return;
    if (this.outstanding.size >= MAX_OUTSTANDING) {
      frame.fd?.close();
      this.send(wire.error(packet.reqid, 0, new Failure('EAGAIN', `too many outstanding requests (${MAX_OUTSTANDING}); wait for answers`)));
      return;
    }
    const handler = this.lookup(packet.cmd);
    if (!handler) {
      frame.fd?.close();
      this.send(wire.error(packet.reqid, 0, wire.unknown(packet.cmd)));
      return;
    }
    this.run(handler, packet, frame.fd, frame.fdLost);
  }

  /**
   * A packet carrying a cbid answers one of our callbacks. True when it was
   * taken care of here; false when it is to be handled as a new request
   * (V2, for a cbid with no callback pending).
   */
  private followUp(packet: WireHead, fd: OwnedFd | undefined): boolean {
    const wire = this.wire!;
    const pending = this.callbacks.get(packet.cbid);
    if (!pending || pending.reqid !== packet.reqid) {
      if (wire.strayAnswer === 'request') {
        // A late answer to a callback that is over: nobody waits for it.
        if (packet.cmd > 1) return false;
        fd?.close();
        return true;
      }
      fd?.close();
      const why = pending
        ? `cbid ${packet.cbid} belongs to request ${pending.reqid}, not ${packet.reqid}`
        : `no proposal with cbid ${packet.cbid} is waiting on this connection`;
      this.send(wire.error(packet.reqid, 0, new Failure('EINVAL', why)));
      return true;
    }
    this.callbacks.delete(packet.cbid);
    if (!wire.answersCarryFds) fd?.close();
    pending.resolve(packet, wire.answersCarryFds ? fd : undefined);
    return true;
  }

  private run(handler: Handler<WireHead>, packet: WireHead, fd: OwnedFd | undefined, fdLost?: boolean): void {
    const controller = new AbortController();
    const reqid = packet.reqid;
    const issued = new Set<number>();
    const exchange = (out: WireHead, outFd?: OwnedFd) => this.callback(reqid, controller.signal, issued, out, outFd);
    const req: Request<WireHead> = {
      packet,
      fd,
      fdLost,
      client: this.info,
      signal: controller.signal,
      log: this.log,
      callback: async (out, outFd) => {
        const answer = await exchange(out, outFd);
        answer.fd?.close();
        return answer.packet;
      },
      exchange: (out) => exchange(out),
    };
    const entry: Outstanding = { reqid, controller, done: Promise.resolve() };
    this.outstanding.add(entry);
    entry.done = (async () => {
      let response: Response<WireHead>;
      try {
        response = await handler(req);
      } catch (e) {
        response = { packet: this.errorFor(reqid, e, packet.cmd) };
      } finally {
        fd?.close();
        for (const cbid of issued) this.callbacks.delete(cbid);
        this.outstanding.delete(entry);
      }
      if (!response.quiet) this.send({ ...response.packet, reqid, cbid: 0 }, response.fd);
      response.fd?.close();
    })().catch((e: unknown) =>
      this.log.error('a request failed after its handler', { client: this.info.id, cmd: this.wire!.cmdName(packet.cmd), error: e }),
    );
  }

  private callback(reqid: number, signal: AbortSignal, issued: Set<number>, packet: WireHead, fd: OwnedFd | undefined): Promise<Answer<WireHead>> {
    if (signal.aborted) return Promise.reject(signal.reason);
    const wire = this.wire!;
    const cbid = this.allocateCbid();
    let bytes: Uint8Array;
    try {
      bytes = wire.encode({ ...packet, reqid, cbid });
    } catch (e) {
      this.log.error('a callback could not be encoded', { client: this.info.id, cmd: wire.cmdName(packet.cmd), error: e });
      return Promise.reject(new Failure('EIO', 'the pool could not encode its question to you; see its log'));
    }
    issued.add(cbid);
    return new Promise<Answer<WireHead>>((resolve, reject) => {
      const onAbort = () => {
        this.callbacks.delete(cbid);
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.callbacks.set(cbid, {
        reqid,
        resolve: (answer, answerFd) => {
          signal.removeEventListener('abort', onAbort);
          issued.delete(cbid);
          resolve({ packet: answer, fd: answerFd });
        },
      });
      if (!this.closed) this.conn.send(bytes, fd);
    });
  }

  /** cbids are 1..65535, unique among this connection's open callbacks. */
  private allocateCbid(): number {
    for (let i = 0; i < 0xffff; i++) {
      this.lastCbid = (this.lastCbid % 0xffff) + 1;
      if (!this.callbacks.has(this.lastCbid)) return this.lastCbid;
    }
    throw new Failure('EAGAIN', 'no free callback id on this connection');
  }

  private errorFor(reqid: number, e: unknown, cmd: number): WireHead {
    const wire = this.wire!;
    if (wire.namesCode(e)) {
      const failure = toFailure(e);
      // Messages are written to fit (protocol/wire-text.ts); one that does not loses its end: the log keeps it whole.
      if (byteLength(failure.message) > MESSAGE_BYTES) this.log.warn('an error message was cut to fit the wire', { client: this.info.id, cmd: wire.cmdName(cmd), message: failure.message });
      return wire.error(reqid, 0, failure);
    }
    this.log.error('handler failed', { client: this.info.id, cmd: wire.cmdName(cmd), error: e, stack: (e as Error)?.stack });
    return wire.error(reqid, 0, new Failure('EIO', 'internal error in the pool; see its log'));
  }

  /**
   * Send a final response or an error. A response that cannot be encoded (a
   * handler's bug) becomes an ERROR for the same request, never an exception
   * that escapes the request.
   */
  private send(packet: WireHead, fd?: OwnedFd): void {
    if (this.closed) return;
    const wire = this.wire!;
    let bytes: Uint8Array;
    try {
      bytes = wire.encode(packet);
    } catch (e) {
      this.log.error('a response could not be encoded', { client: this.info.id, cmd: wire.cmdName(packet.cmd), error: e });
      bytes = wire.encode(wire.error(packet.reqid, 0, new Failure('EIO', 'the pool could not encode its answer; see its log')));
      fd = undefined;
    }
    this.conn.send(bytes, fd);
  }

  private end(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.tailTimer);
    this.detector.dispose();
    this.framer?.dispose();
    for (const o of this.outstanding) o.controller.abort(new Failure('ECANCELED', reason));
    this.callbacks.clear();
    this.conn.close();
    this.log.debug('client gone', { client: this.info.id, reason });
    this.handlers.closed?.(this.info);
    this.onClosed(this);
  }
}
