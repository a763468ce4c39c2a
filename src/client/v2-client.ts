/**
 * A V2 client of the pool socket for Node programs: STARTTLS with the role
 * in the flags and the application's own plaintext socket (a socketpair
 * made here, or one the caller brings), and, on an established session
 * named by its ctlkey, PRNG (the TLS exporter), INFO, CONTROL_DETACH and
 * CONTROL_REATTACH. Errors reject with a Failure whose errno is the pool's
 * code (a `tlsP` code is a TlspFailure naming it).
 */
import { randomBytes } from 'node:crypto';
import { connectUnix, socketpair, type NativeError, type OwnedFd, type UnixConnection } from '../addon/ipc';
import { Failure } from '../model/failure';
import { Framer } from '../protocol/framer';
import { IpProto } from '../protocol/constants';
import { decodeV2, encodeV2, v2ErrorPacket, type V2Packet, type V2StartTlsPayload } from '../protocol/v2-codec';
import { INFO_QUERY, V2Cmd, v2CmdName, V2StartTlsFlag as F } from '../protocol/v2-constants';
import { TlspFailure, Tlsp, tlspName } from '../protocol/v2-errors';
import { V2_COMMAND_SIZE } from '../protocol/v2-layout';

/** The identity this library sends in a V2 PING. */
export const V2_CLIENT_IDENTITY = '20261204tlspool-node-v2@tlspool.invalid';

export interface V2StartTlsOptions {
  role: 'client' | 'server';
  /** The connected socket to protect; the caller keeps (and should close) its own copy. */
  fd: OwnedFd;
  localid?: string;
  remoteid?: string;
  /** More PIOF_STARTTLS_* bits (V2 meanings): WITHOUT_SNI, DETACH, FORK, REQUEST_REMOTEID, LOCALID_CHECK, ... */
  flags?: number;
  ipproto?: number;
  /** An IANA service name (at most 15 bytes). */
  service?: string;
  /** Handshake timeout in ms; 0 = the pool's default; null = none. */
  timeoutMs?: number | null;
  /** 16 bytes naming the session; fresh random bytes by default. */
  ctlkey?: Uint8Array;
  /**
   * With LOCALID_CHECK: answer the pool's proposal with the identity to
   * use ('' refuses it and lets the pool propose another; throwing sends
   * ERROR, which fails the STARTTLS). Default: accept.
   */
  onLocalId?: (proposal: { localid: string; remoteid: string }) => string | Promise<string>;
  /** The plaintext socket for the pool's end (it takes a copy); default: one end of a socketpair made here. */
  plaintext?: OwnedFd;
}

export interface V2Session {
  readonly localid: string;
  readonly remoteid: string;
  /** The session's key for PRNG, INFO, DETACH and REATTACH. */
  readonly ctlkey: Buffer;
  /** The application's end of the plaintext socketpair; undefined when the caller brought its own socket. */
  readonly fd?: OwnedFd;
}

/** A callback's answer; `fd` travels with it, and is closed after when `handOver` (our copy of a socketpair end). */
type Answer = { packet: V2Packet; fd?: OwnedFd; handOver?: boolean };
type OnCallback = (packet: V2Packet) => Promise<Answer>;

interface Pending {
  resolve(p: V2Packet): void;
  reject(e: Error): void;
  onCallback?: OnCallback;
}

/** The Failure an ERROR stands for. */
function failureOf(code: number, message: string): Failure {
  const name = tlspName(code);
  return name ? new TlspFailure(name, message) : new Failure(code, message);
}

function emptyStartTls(): V2StartTlsPayload {
  return { flags: 0, local: 0, ipproto: IpProto.TCP, streamid: 0, localid: '', remoteid: '', ctlkey: new Uint8Array(16), service: '', timeout: 0 };
}

/** The code an ERROR carried: its `tlsP` code, or its errno. */
export function v2Code(e: unknown): number | undefined {
  if (e instanceof TlspFailure) return e.tlspCode;
  return e instanceof Failure ? e.errno : undefined;
}

export class V2Client {
  private readonly framer = new Framer<OwnedFd>(V2_COMMAND_SIZE);
  private readonly pending = new Map<number, Pending>();
  private lastReqid = 0;
  private closed = false;

  private constructor(private readonly conn: UnixConnection) {
    conn.start(
      (chunk, fds, fdsLost) => this.receive(chunk, fds, fdsLost),
      (error) => this.end(error),
      V2_COMMAND_SIZE,
    );
  }

  static connect(socket: string): V2Client {
    try {
      return new V2Client(connectUnix(socket));
    } catch (e) {
      const err = e as NativeError;
      throw Failure.named(err.code, `cannot reach the TLS pool at ${socket}: ${err.code}`);
    }
  }

  /** Send one request; resolves with its final answer, rejects with its ERROR. */
  request(packet: V2Packet, opts: { fd?: OwnedFd; onCallback?: OnCallback } = {}): Promise<V2Packet> {
    if (this.closed) return Promise.reject(new Failure('ECONNRESET', 'the pool connection is closed'));
    const reqid = this.allocateReqid();
    let bytes: Uint8Array;
    try {
      bytes = encodeV2({ ...packet, reqid });
    } catch (e) {
      return Promise.reject(new Failure('EINVAL', `cannot send ${v2CmdName(packet.cmd)}: ${(e as Error).message}`));
    }
    return new Promise<V2Packet>((resolve, reject) => {
      this.pending.set(reqid, { resolve, reject, onCallback: opts.onCallback });
      this.conn.send(bytes, opts.fd);
    });
  }

  async ping(identity = V2_CLIENT_IDENTITY, facilities = 0xffffffff): Promise<{ identity: string; facilities: number }> {
    const p = await this.request({ reqid: 0, cbid: 0, cmd: V2Cmd.PING, ping: { YYYYMMDD_producer: identity, facilities } });
    if (!('ping' in p)) throw new Failure('EPROTO', `PING was answered with ${v2CmdName(p.cmd)}`);
    return { identity: p.ping.YYYYMMDD_producer, facilities: p.ping.facilities };
  }

  /** V2 STARTTLS: the pool runs TLS on `fd` and relays it to a plaintext socket of ours. */
  async starttls(opts: V2StartTlsOptions): Promise<V2Session> {
    const ipproto = opts.ipproto ?? IpProto.TCP;
    const roles = opts.role === 'client' ? F.LOCALROLE_CLIENT | F.REMOTEROLE_SERVER : F.LOCALROLE_SERVER | F.REMOTEROLE_CLIENT;
    const ctlkey = Buffer.from(opts.ctlkey ?? randomBytes(16));
    const payload: V2StartTlsPayload = {
      ...emptyStartTls(),
      flags: (roles | (opts.flags ?? 0) | (ipproto === IpProto.UDP ? F.DTLS : 0)) >>> 0,
      ipproto,
      localid: opts.localid ?? '',
      remoteid: opts.remoteid ?? '',
      ctlkey,
      service: opts.service ?? '',
      timeout: opts.timeoutMs === null ? 0xffffffff : (opts.timeoutMs ?? 0),
    };
    let mine: OwnedFd | undefined;
    const give = (): OwnedFd => {
      if (opts.plaintext) return opts.plaintext;
      const [a, b] = socketpair(ipproto === IpProto.UDP ? 'seqpacket' : 'stream');
      mine?.close();
      mine = a;
      return b;
    };
    const onCallback: OnCallback = async (cb) => {
      if (!('starttls' in cb)) throw new Failure('EPROTO', `unexpected ${v2CmdName(cb.cmd)} during STARTTLS`);
      if (cb.cmd === V2Cmd.PLAINTEXT_CONNECT) return { packet: cb, fd: give(), handOver: !opts.plaintext };
      const chosen = opts.onLocalId ? await opts.onLocalId({ localid: cb.starttls.localid, remoteid: cb.starttls.remoteid }) : cb.starttls.localid;
      return { packet: { ...cb, starttls: { ...cb.starttls, localid: chosen } } };
    };
    try {
      const p = await this.request({ reqid: 0, cbid: 0, cmd: V2Cmd.STARTTLS, starttls: payload }, { fd: opts.fd, onCallback });
      if (!('starttls' in p) || p.cmd !== V2Cmd.STARTTLS) throw new Failure('EPROTO', `STARTTLS was answered with ${v2CmdName(p.cmd)}`);
      const session: V2Session = { localid: p.starttls.localid, remoteid: p.starttls.remoteid, ctlkey: Buffer.from(p.starttls.ctlkey), fd: mine };
      mine = undefined;
      return session;
    } finally {
      mine?.close();
    }
  }

  /**
   * RENEGOTIATE: a new handshake on a TLS 1.2 session under this
   * connection's control, with the same identities and descriptors (the
   * data in flight waits for it). Refused for TLS 1.3 (WOULD_BE_INSECURE).
   */
  async renegotiate(ctlkey: Uint8Array, timeoutMs?: number): Promise<{ localid: string; remoteid: string }> {
    const starttls: V2StartTlsPayload = { ...emptyStartTls(), flags: F.RENEGOTIATE, ctlkey: Buffer.from(ctlkey), timeout: timeoutMs ?? 0 };
    const p = await this.request({ reqid: 0, cbid: 0, cmd: V2Cmd.STARTTLS, starttls }, {
      onCallback: async (cb) => {
        // STARTTLS_LOCALID, were the pool to ask: the identity stays.
        if (!('starttls' in cb) || cb.cmd !== V2Cmd.STARTTLS_LOCALID) throw new Failure('EPROTO', `unexpected ${v2CmdName(cb.cmd)} during RENEGOTIATE`);
        return { packet: cb };
      },
    });
    if (!('starttls' in p) || p.cmd !== V2Cmd.STARTTLS) throw new Failure('EPROTO', `RENEGOTIATE was answered with ${v2CmdName(p.cmd)}`);
    return { localid: p.starttls.localid, remoteid: p.starttls.remoteid };
  }

  /** CONTROL_DETACH: the session no longer depends on this connection (nor answers PRNG/INFO here). */
  async detach(ctlkey: Uint8Array): Promise<void> {
    await this.request({ reqid: 0, cbid: 0, cmd: V2Cmd.CONTROL_DETACH, control: { flags: 0, ctlkey, name: new Uint8Array(0) } });
  }

  /** CONTROL_REATTACH: take control of a detached session of this uid. */
  async reattach(ctlkey: Uint8Array): Promise<void> {
    await this.request({ reqid: 0, cbid: 0, cmd: V2Cmd.CONTROL_REATTACH, control: { flags: 0, ctlkey, name: new Uint8Array(0) } });
  }

  /** PRNG: `length` bytes of the session's keying material for `label` (and `context`, null for none). */
  async prng(ctlkey: Uint8Array, label: string, context: Uint8Array | null, length: number): Promise<Buffer> {
    const l = Buffer.from(label, 'latin1');
    const c = context ? Buffer.from(context) : Buffer.alloc(0);
    const buffer = Buffer.concat([Buffer.from(ctlkey.subarray(0, 16)), l, c]);
    if (buffer.length > 350) throw new Failure('EINVAL', 'label and context together must fit 334 bytes');
    const p = await this.request({
      reqid: 0,
      cbid: 0,
      cmd: V2Cmd.PRNG,
      prng: { in1_len: l.length, in2_len: context ? c.length : -1, prng_len: length, buffer },
    });
    if (!('prng' in p)) throw new Failure('EPROTO', `PRNG was answered with ${v2CmdName(p.cmd)}`);
    return Buffer.from(p.prng.buffer.subarray(0, length));
  }

  /** INFO query: the value of `kind` (V2InfoKind) for the session. */
  async info(ctlkey: Uint8Array, kind: number): Promise<Buffer> {
    const p = await this.request({ reqid: 0, cbid: 0, cmd: V2Cmd.INFO, info: { ctlkey, info_kind: kind, len: INFO_QUERY, buffer: new Uint8Array(0) } });
    if (!('info' in p)) throw new Failure('EPROTO', `INFO was answered with ${v2CmdName(p.cmd)}`);
    return Buffer.from(p.info.buffer.subarray(0, p.info.len));
  }

  /** INFO check: whether the session's `kind` matches `value` (false on E_TLSPOOL_INFO_NOT_FOUND). */
  async infoCheck(ctlkey: Uint8Array, kind: number, value: Uint8Array): Promise<boolean> {
    try {
      await this.request({ reqid: 0, cbid: 0, cmd: V2Cmd.INFO, info: { ctlkey, info_kind: kind, len: value.length, buffer: value } });
      return true;
    } catch (e) {
      if (e instanceof TlspFailure && e.tlsp === 'E_TLSPOOL_INFO_NOT_FOUND') return false;
      throw e;
    }
  }

  /** Send raw bytes as they are: for tests that speak broken protocol. */
  sendRaw(bytes: Uint8Array, fd?: OwnedFd): void {
    this.conn.send(bytes, fd);
  }

  get isOpen(): boolean {
    return !this.closed;
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
      // The pool sends no descriptors on a V2 connection; one that came anyway is not kept.
      frame.fd?.close();
      let packet: V2Packet;
      try {
        packet = decodeV2(frame.bytes);
      } catch (e) {
        this.close();
        this.rejectAll(new Failure('EPROTO', `the pool sent a malformed V2 packet: ${(e as Error).message}`));
        return;
      }
      const pending = this.pending.get(packet.reqid);
      if (!pending) continue;
      if (packet.cbid !== 0) {
        void this.answerCallback(pending, packet);
        continue;
      }
      this.pending.delete(packet.reqid);
      if ('error' in packet) pending.reject(failureOf(packet.error.tlserrno, packet.error.message));
      else pending.resolve(packet);
    }
  }

  /** Answer a callback; a handler that throws has the pool answered with ERROR. */
  private async answerCallback(pending: Pending, packet: V2Packet): Promise<void> {
    const { reqid, cbid } = packet;
    let answer: Answer;
    try {
      if (!pending.onCallback) throw new Failure('ENOSYS', `no handler for ${v2CmdName(packet.cmd)} callbacks`);
      answer = await pending.onCallback(packet);
      answer = { ...answer, packet: { ...answer.packet, reqid, cbid } };
    } catch (e) {
      const f = e instanceof Failure ? e : new Failure('ENOSYS', String((e as Error)?.message ?? e));
      answer = { packet: v2ErrorPacket(reqid, cbid, Tlsp.E_TLSPOOL_CLIENT_REFUSES_CALLBACK, f.message) };
    }
    if (!this.closed) this.conn.send(encodeV2(answer.packet), answer.fd);
    if (answer.handOver) answer.fd?.close();
  }

  private rejectAll(reason: Failure): void {
    for (const p of this.pending.values()) p.reject(reason);
    this.pending.clear();
  }

  private end(error?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.framer.dispose();
    this.rejectAll(new Failure('ECONNRESET', error ? `the pool connection failed: ${error.message}` : 'the pool closed the connection'));
  }
}
