/**
 * One client connection to the pool socket: frames its bytes into commands,
 * runs a handler per request, and keeps the protocol's promises — every
 * request gets exactly one final response with its reqid, callback ids are
 * issued and matched within this connection only, and a client that leaves
 * has all its work cancelled and its fds closed.
 */
import { decode, decodeHeader, encode, errorPacket, MalformedPacket, type Packet } from '../../protocol/codec';
import { Cmd, cmdName } from '../../protocol/constants';
import { Errno } from '../../protocol/errno';
import type { OwnedFd, UnixConnection } from '../../addon/ipc';
import type { Logger } from '../../log/logger';
import { COMMAND_SIZE } from '../../protocol/layout';
import { Framer, type Frame } from '../../protocol/framer';
import type { ClientInfo, Handler, Request, Response } from './request';
import { errnoOf, Failure, hasErrno, messageOf } from '../../model/failure';
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
  resolve(packet: Packet): void;
}

export type HandlerLookup = (cmd: number) => Handler | undefined;

export class ClientSession {
  private readonly framer = new Framer<OwnedFd>();
  private readonly outstanding = new Set<Outstanding>();
  private readonly callbacks = new Map<number, PendingCallback>();
  private lastCbid = 0;
  private closed = false;

  constructor(
    private readonly conn: UnixConnection,
    readonly info: ClientInfo,
    private readonly handlers: HandlerLookup,
    private readonly log: Logger,
    private readonly onClosed: (session: ClientSession) => void,
  ) {}

  start(): void {
    this.conn.start(
      (chunk, fds, fdsLost) => this.receive(chunk, fds, fdsLost),
      (error) => this.end(error ? `connection error: ${error.code}` : 'client disconnected'),
      COMMAND_SIZE, // one command start per read: an fd goes to the command it came with
    );
  }

  get outstandingCount(): number {
    return this.outstanding.size;
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
    for (const frame of this.framer.push(chunk, fds, fdsLost)) this.dispatch(frame);
  }

  private dispatch(frame: Frame<OwnedFd>): void {
    let packet: Packet;
    try {
      packet = decode(frame.bytes);
    } catch (e) {
      if (decodeHeader(frame.bytes).cmd === Cmd.PINENTRY) frame.bytes.fill(0);
      frame.fd?.close();
      if (!(e instanceof MalformedPacket)) throw e;
      this.log.debug('malformed command', { client: this.info.id, cmd: cmdName(e.cmd), reason: e.message });
      this.send(errorPacket(e.reqid, 0, Errno.EINVAL, `malformed ${cmdName(e.cmd)}: ${e.message}`));
      return;
    }

    // The PIN now lives only in the decoded packet's own copy.
    if (packet.cmd === Cmd.PINENTRY) frame.bytes.fill(0);
    if (packet.cbid !== 0) {
      this.followUp(packet, frame.fd);
      return;
    }
    if (this.outstanding.size >= MAX_OUTSTANDING) {
      frame.fd?.close();
      this.send(
        errorPacket(packet.reqid, 0, Errno.EAGAIN, `too many outstanding requests (${MAX_OUTSTANDING}); wait for answers`),
      );
      return;
    }
    const handler = this.handlers(packet.cmd);
    if (!handler) {
      frame.fd?.close();
      this.send(errorPacket(packet.reqid, 0, Errno.ENOSYS, `command ${cmdName(packet.cmd)} is not supported by this pool`));
      return;
    }
    this.run(handler, packet, frame.fd, frame.fdLost);
  }

  /** A packet carrying a cbid answers one of our callbacks; it is not a new request. */
  private followUp(packet: Packet, fd: OwnedFd | undefined): void {
    // No command's follow-up carries an fd; one that arrives has no owner.
    fd?.close();
    const pending = this.callbacks.get(packet.cbid);
    if (!pending) {
      this.send(errorPacket(packet.reqid, 0, Errno.EINVAL, `no proposal with cbid ${packet.cbid} is waiting on this connection`));
      return;
    }
    if (pending.reqid !== packet.reqid) {
      this.send(
        errorPacket(packet.reqid, 0, Errno.EINVAL, `cbid ${packet.cbid} belongs to request ${pending.reqid}, not ${packet.reqid}`),
      );
      return;
    }
    this.callbacks.delete(packet.cbid);
    pending.resolve(packet);
  }

  private run(handler: Handler, packet: Packet, fd: OwnedFd | undefined, fdLost?: boolean): void {
    const controller = new AbortController();
    const reqid = packet.reqid;
    const issued = new Set<number>();
    const req: Request = {
      packet,
      fd,
      fdLost,
      client: this.info,
      signal: controller.signal,
      log: this.log,
      callback: (out, outFd) => this.callback(reqid, controller.signal, issued, out, outFd),
    };
    const entry: Outstanding = { reqid, controller, done: Promise.resolve() };
    this.outstanding.add(entry);
    entry.done = (async () => {
      let response: Response;
      try {
        response = await handler(req);
      } catch (e) {
        response = { packet: this.errorFor(reqid, e, packet.cmd) };
      } finally {
        fd?.close();
        for (const cbid of issued) this.callbacks.delete(cbid);
        this.outstanding.delete(entry);
      }
      this.send({ ...response.packet, reqid, cbid: 0 }, response.fd);
      response.fd?.close();
    })().catch((e: unknown) => this.log.error('a request failed after its handler', { client: this.info.id, cmd: cmdName(packet.cmd), error: e }));
  }

  private callback(
    reqid: number,
    signal: AbortSignal,
    issued: Set<number>,
    packet: Packet,
    fd: OwnedFd | undefined,
  ): Promise<Packet> {
    if (signal.aborted) return Promise.reject(signal.reason);
    const cbid = this.allocateCbid();
    let bytes: Uint8Array;
    try {
      bytes = encode({ ...packet, reqid, cbid });
    } catch (e) {
      this.log.error('a callback could not be encoded', { client: this.info.id, cmd: cmdName(packet.cmd), error: e });
      return Promise.reject(new Failure('EIO', 'the pool could not encode its question to you; see its log'));
    }
    issued.add(cbid);
    return new Promise<Packet>((resolve, reject) => {
      const onAbort = () => {
        this.callbacks.delete(cbid);
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.callbacks.set(cbid, {
        reqid,
        resolve: (answer) => {
          signal.removeEventListener('abort', onAbort);
          issued.delete(cbid);
          resolve(answer);
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

  private errorFor(reqid: number, e: unknown, cmd: number): Packet {
    if (hasErrno(e)) {
      const message = messageOf(e);
      // Messages are written to fit (protocol/wire-text.ts); one that does not lost its end: the log keeps it whole.
      if (byteLength(message) > MESSAGE_BYTES) this.log.warn('an error message was cut to fit the wire', { client: this.info.id, cmd: cmdName(cmd), message });
      return errorPacket(reqid, 0, errnoOf(e), message);
    }
    this.log.error('handler failed', { client: this.info.id, cmd: cmdName(cmd), error: e, stack: (e as Error)?.stack });
    return errorPacket(reqid, 0, Errno.EIO, 'internal error in the pool; see its log');
  }

  /**
   * Send a final response or an error. A response that cannot be encoded (a
   * handler's bug) becomes an ERROR for the same request, never an exception
   * that escapes the request.
   */
  private send(packet: Packet, fd?: OwnedFd): void {
    if (this.closed) return;
    let bytes: Uint8Array;
    try {
      bytes = encode(packet);
    } catch (e) {
      this.log.error('a response could not be encoded', { client: this.info.id, cmd: cmdName(packet.cmd), error: e });
      bytes = encode(errorPacket(packet.reqid, 0, Errno.EIO, 'the pool could not encode its answer; see its log'));
      fd = undefined;
    }
    this.conn.send(bytes, fd);
  }

  private end(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.framer.dispose();
    for (const o of this.outstanding) o.controller.abort(new Failure('ECANCELED', reason));
    this.callbacks.clear();
    this.conn.close();
    this.log.debug('client gone', { client: this.info.id, reason });
    this.onClosed(this);
  }
}
