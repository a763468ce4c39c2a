/**
 * A client of the pool socket for Node programs and for our own tools and
 * agents: concurrent requests by reqid, fds in and out, and callbacks (a
 * response with a cbid) answered by a function the caller supplies.
 */
import { decode, encode, errorPacket, type Packet } from '../protocol/codec';
import { Cmd, cmdName, IpProto, LocalCmd, PinEntryFlag, StartTlsFlag } from '../protocol/constants';
import { Errno } from '../protocol/errno';
import { Failure } from '../model/failure';
import { connectUnix, type NativeError, type OwnedFd, type UnixConnection } from '../addon/ipc';
import { COMMAND_SIZE } from '../protocol/layout';
import { pinProblem } from '../protocol/pin';
import { Framer } from '../protocol/framer';

export interface PoolResponse {
  readonly packet: Packet;
  /** The fd of a final STARTTLS response; the caller owns it. */
  readonly fd?: OwnedFd;
  /** The pool sent an fd and this process could not receive it (out of descriptors). */
  readonly fdLost?: boolean;
}

/**
 * Answers a callback from the pool (a STARTTLS_LOCALID proposal, a PINENTRY
 * prompt). The returned packet is sent back with the same reqid and cbid.
 */
export type CallbackHandler = (packet: Packet) => Packet | Promise<Packet>;

export interface RequestOptions {
  fd?: OwnedFd;
  onCallback?: CallbackHandler;
}

interface Pending {
  resolve(r: PoolResponse): void;
  reject(e: Error): void;
  onCallback?: CallbackHandler;
  /** Why a callback of this request could not be answered as asked: the request ends with this error. */
  failure?: Failure;
}

export interface StartTlsOptions {
  role: 'client' | 'server';
  /** The connected socket to protect; the caller keeps (and should close) its own copy. */
  fd: OwnedFd;
  localid?: string;
  remoteid?: string;
  /** PIOF_STARTTLS_* bits; DTLS is added for UDP. */
  flags?: number;
  ipproto?: number;
  /**
   * Answer a STARTTLS_LOCALID proposal: return the proposed identity to
   * accept it, another one to change it, or '' to refuse it. Without this,
   * proposals are accepted as they are.
   */
  onLocalId?: (proposal: { localid: string; remoteid: string }) => string | Promise<string>;
}

/** A PIN prompt from the pool, as a PIN entry program shows it. */
export interface PinPrompt {
  /** 1 for the first try; more after a wrong PIN. */
  readonly attempt: number;
  /** How long the pool waits for the answer, in microseconds. */
  readonly timeoutUs: number;
  /** The pool's words: what is asked and for whom. */
  readonly prompt: string;
  readonly token: { label: string; manufacturer: string; model: string; serial: string };
}

export interface PinEntryOptions {
  /** PIOF_PINENTRY_SHARED: be one of several programs, tried in turn. */
  shared?: boolean;
  /**
   * Ask the person. Resolve with the PIN as bytes (this library wipes them
   * once sent), with null to cancel (the STARTTLS that needed it fails with
   * ECANCELED), or with 'stop' to end the registration (the pool answers
   * with SUCCESS and tries the next program). Check the PIN with
   * pinProblem() first: one the pool cannot take (too long, a NUL) is not
   * sent but wiped, the registration ends, and offerPinEntry rejects with
   * EINVAL and what was wrong.
   */
  onPrompt(prompt: PinPrompt): Uint8Array | null | 'stop' | Promise<Uint8Array | null | 'stop'>;
}

export interface StartTlsResult {
  readonly localid: string;
  readonly remoteid: string;
  /** The plaintext side of the connection; the caller owns it. */
  readonly fd: OwnedFd;
}

function emptyPinEntry() {
  return { flags: 0, attempt: 0, timeout_us: 0, pin: new Uint8Array(0), prompt: '', token_manuf: '', token_model: '', token_serial: '', token_label: '' };
}

/** The identity this library sends in PING unless told otherwise. */
export const CLIENT_IDENTITY = '20261125tlspool-node-client@tlspool.invalid';

export class PoolClient {
  private readonly framer = new Framer<OwnedFd>();
  private readonly pending = new Map<number, Pending>();
  private lastReqid = 0;
  private closed = false;
  private readonly closeListeners: Array<(error?: Error) => void> = [];

  private constructor(
    private readonly conn: UnixConnection,
    readonly socket: string,
  ) {
    conn.start(
      (chunk, fds, fdsLost) => this.receive(chunk, fds, fdsLost),
      (error) => this.end(error),
      COMMAND_SIZE, // one response start per read: an fd goes to the response it came with
    );
  }

  /** Connect to the pool socket; the error says what to do if nobody answers. */
  static connect(socket: string): PoolClient {
    try {
      return new PoolClient(connectUnix(socket), socket);
    } catch (e) {
      const err = e as NativeError;
      const hint =
        err.code === 'ENOENT' || err.code === 'ECONNREFUSED'
          ? ' (is `tlspool daemon` running? Use --socket or TLSPOOL_SOCKET to point elsewhere)'
          : err.code === 'EACCES'
            ? ' (the socket is not open to this user)'
            : '';
      throw Failure.named(err.code, `cannot reach the TLS pool at ${socket}: ${err.code}${hint}`);
    }
  }

  /**
   * Send one request and wait for its final response. An ERROR response
   * rejects with a Failure carrying the errno; the request's reqid is
   * chosen here when the packet's is 0.
   */
  request(packet: Packet, opts: RequestOptions = {}): Promise<PoolResponse> {
    if (this.closed) return Promise.reject(new Failure('ECONNRESET', 'the pool connection is closed'));
    const reqid = packet.reqid || this.allocateReqid();
    if (this.pending.has(reqid)) {
      return Promise.reject(new Failure('EBUSY', `reqid ${reqid} is already outstanding`));
    }
    let bytes: Uint8Array;
    try {
      bytes = encode({ ...packet, reqid });
    } catch (e) {
      return Promise.reject(new Failure('EINVAL', `cannot send ${cmdName(packet.cmd)}: ${(e as Error).message}`));
    }
    return new Promise<PoolResponse>((resolve, reject) => {
      this.pending.set(reqid, { resolve, reject, onCallback: opts.onCallback });
      this.conn.send(bytes, opts.fd);
    });
  }

  /** PING: the pool's identity and the round-trip time. */
  async ping(identity = CLIENT_IDENTITY): Promise<{ identity: string; rttMs: number }> {
    const start = process.hrtime.bigint();
    const { packet } = await this.request({ reqid: 0, cbid: 0, cmd: Cmd.PING, ping: { YYYYMMDD_producer: identity } });
    const rttMs = Number(process.hrtime.bigint() - start) / 1e6;
    if (!('ping' in packet)) throw new Failure('EPROTO', `PING was answered with ${cmdName(packet.cmd)}`);
    return { identity: packet.ping.YYYYMMDD_producer, rttMs };
  }

  /** STARTTLS_CLIENT or STARTTLS_SERVER: hand over a socket, get the plaintext fd. */
  async starttls(opts: StartTlsOptions): Promise<StartTlsResult> {
    const ipproto = opts.ipproto ?? IpProto.TCP;
    const flags = (opts.flags ?? 0) | (ipproto === IpProto.UDP ? StartTlsFlag.DTLS : 0);
    const payload = { flags, local: 0, ipproto, streamid: 0, localid: opts.localid ?? '', remoteid: opts.remoteid ?? '' };
    const cmd = opts.role === 'client' ? Cmd.STARTTLS_CLIENT : Cmd.STARTTLS_SERVER;
    const { packet, fd, fdLost } = await this.request(
      { reqid: 0, cbid: 0, cmd, starttls: payload },
      {
        fd: opts.fd,
        onCallback: async (proposal) => {
          if (!('starttls' in proposal)) throw new Error(`unexpected ${cmdName(proposal.cmd)} during STARTTLS`);
          const { localid, remoteid } = proposal.starttls;
          const chosen = opts.onLocalId ? await opts.onLocalId({ localid, remoteid }) : localid;
          return { ...proposal, starttls: { ...proposal.starttls, localid: chosen } };
        },
      },
    );
    if ('starttls' in packet && fdLost) {
      throw new Failure('EMFILE', 'this process is out of file descriptors: the plaintext socket the pool sent was lost');
    }
    if (!('starttls' in packet) || !fd) {
      fd?.close();
      throw new Failure('EPROTO', `STARTTLS was answered with ${cmdName(packet.cmd)}${fd ? '' : ' without an fd'}`);
    }
    return { localid: packet.starttls.localid, remoteid: packet.starttls.remoteid, fd };
  }

  /**
   * Offer PIN entry (PINENTRY with an empty PIN) and answer the pool's
   * prompts until the registration ends: resolves when the pool acknowledges
   * a 'stop' with SUCCESS; rejects with the pool's ERROR (EBUSY: another
   * program holds PIN entry) or when the connection closes.
   */
  async offerPinEntry(opts: PinEntryOptions): Promise<void> {
    const flags = opts.shared ? PinEntryFlag.SHARED : 0;
    const empty = { flags, attempt: 0, timeout_us: 0, pin: new Uint8Array(0), prompt: '', token_manuf: '', token_model: '', token_serial: '', token_label: '' };
    await this.request(
      { reqid: 0, cbid: 0, cmd: Cmd.PINENTRY, pinentry: empty },
      {
        onCallback: async (packet) => {
          if (!('pinentry' in packet) || packet.cmd !== Cmd.PINENTRY) throw new Error(`unexpected ${cmdName(packet.cmd)} during PIN entry`);
          const p = packet.pinentry;
          const answer = await opts.onPrompt({
            attempt: p.attempt,
            timeoutUs: p.timeout_us,
            prompt: p.prompt,
            token: { label: p.token_label, manufacturer: p.token_manuf, model: p.token_model, serial: p.token_serial },
          });
          if (answer === 'stop') return errorPacket(packet.reqid, packet.cbid, Errno.ECANCELED, 'PIN entry program stopping');
          const problem = answer && pinProblem(answer);
          if (problem) {
            answer.fill(0);
            throw new Failure('EINVAL', `the PIN was not sent: ${problem}`);
          }
          return { ...packet, pinentry: { ...empty, pin: answer ?? new Uint8Array(0) } };
        },
      },
    );
  }

  /** `tlspool lock`: the pool forgets every cached PIN and logs its tokens out. */
  async lock(): Promise<void> {
    await this.request({ reqid: 0, cbid: 0, cmd: LocalCmd.LOCK, pinentry: emptyPinEntry() });
  }

  /** Whether the pool holds a token unlocked (label, and serial when given). */
  async tokenUnlocked(token: { label: string; serial?: string; manufacturer?: string; model?: string }): Promise<boolean> {
    const { packet } = await this.request({
      reqid: 0,
      cbid: 0,
      cmd: LocalCmd.TOKEN_STATE,
      pinentry: { ...emptyPinEntry(), token_label: token.label, token_serial: token.serial ?? '', token_manuf: token.manufacturer ?? '', token_model: token.model ?? '' },
    });
    return 'pinentry' in packet && (packet.pinentry.flags & 1) !== 0;
  }

  /** LOCAL LOOP_STATS: the daemon's event-loop delay (µs) since the last reset; `reset` starts a new window. */
  async loopStats(reset = false): Promise<{ p50: number; p99: number; max: number; mean: number; n: number; ms: number }> {
    const { packet } = await this.request({ reqid: 0, cbid: 0, cmd: LocalCmd.LOOP_STATS, pinentry: { ...emptyPinEntry(), flags: reset ? 1 : 0 } });
    if (!('pinentry' in packet)) throw new Error(`LOOP_STATS answered with ${cmdName(packet.cmd)}`);
    return JSON.parse(packet.pinentry.prompt) as { p50: number; p99: number; max: number; mean: number; n: number; ms: number };
  }

  /** Send raw bytes as they are: for tests that speak broken protocol. */
  sendRaw(bytes: Uint8Array, fd?: OwnedFd): void {
    this.conn.send(bytes, fd);
  }

  /** False once the connection is closed (by either side). */
  get isOpen(): boolean {
    return !this.closed;
  }

  get outstanding(): number {
    return this.pending.size;
  }

  onClose(listener: (error?: Error) => void): void {
    this.closeListeners.push(listener);
  }

  close(): void {
    this.conn.close();
    this.end();
  }

  private allocateReqid(): number {
    for (let i = 0; i < 0xffff; i++) {
      this.lastReqid = (this.lastReqid % 0xffff) + 1;
      if (!this.pending.has(this.lastReqid)) return this.lastReqid;
    }
    throw new Failure('EAGAIN', 'all 65535 request ids are outstanding');
  }

  private receive(chunk: Buffer, fds: OwnedFd[], fdsLost: boolean): void {
    for (const frame of this.framer.push(chunk, fds, fdsLost)) {
      let packet: Packet;
      try {
        packet = decode(frame.bytes);
      } catch (e) {
        frame.fd?.close();
        this.fail(new Failure('EPROTO', `the pool sent a malformed response: ${(e as Error).message}`));
        return;
      }
      const pending = this.pending.get(packet.reqid);
      if (!pending) {
        frame.fd?.close();
        continue;
      }
      if (packet.cbid !== 0) {
        frame.fd?.close();
        // Never rejects by design; should it all the same, the connection fails and every request with it.
        this.answerCallback(pending, packet).catch((e: unknown) =>
          this.fail(new Failure('EIO', `answering a callback failed: ${(e as Error)?.message ?? String(e)}`)),
        );
        continue;
      }
      this.pending.delete(packet.reqid);
      if (pending.failure) {
        frame.fd?.close();
        if ('pinentry' in packet) packet.pinentry.pin.fill(0);
        pending.reject(pending.failure);
      } else if ('error' in packet) {
        frame.fd?.close();
        pending.reject(new Failure(packet.error.tlserrno, packet.error.message));
      } else {
        pending.resolve({ packet, fd: frame.fd, fdLost: frame.fdLost });
      }
    }
  }

  /**
   * Answer one callback with what the handler returns. A handler that
   * throws, or whose answer cannot be encoded (a PIN too long for its
   * field), has the pool answered with ERROR instead, and the request ends
   * with that failure. Any PIN is wiped, sent or not.
   */
  private async answerCallback(pending: Pending, packet: Packet): Promise<void> {
    const { reqid, cbid } = packet;
    let reply: Packet | undefined;
    let bytes: Uint8Array;
    try {
      if (!pending.onCallback) throw new Error(`no handler for ${cmdName(packet.cmd)} callbacks`);
      reply = await pending.onCallback(packet);
      try {
        bytes = encode({ ...reply, reqid, cbid });
      } catch (e) {
        throw new Failure('EINVAL', `the answer to ${cmdName(packet.cmd)} cannot be sent: ${(e as Error).message}`);
      }
    } catch (e) {
      const failure = e instanceof Failure ? e : new Failure('ENOSYS', (e as Error)?.message ?? String(e));
      pending.failure ??= failure;
      bytes = encode(errorPacket(reqid, cbid, failure.errno, failure.message)); // always fits
    } finally {
      if (reply && 'pinentry' in reply) reply.pinentry.pin.fill(0);
    }
    if (!this.closed) this.conn.send(bytes); // copied into the connection's queue, which wipes its copy once written
    bytes.fill(0);
  }

  private fail(error: Error): void {
    this.conn.close();
    this.end(error);
  }

  private end(error?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.framer.dispose();
    const reason = new Failure('ECONNRESET', error ? `the pool connection failed: ${error.message}` : 'the pool closed the connection');
    for (const p of this.pending.values()) p.reject(reason);
    this.pending.clear();
    for (const l of this.closeListeners) l(error);
  }
}
