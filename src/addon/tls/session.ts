/**
 * The TLS engine: GnuTLS sessions, each on a native thread of its own, with a
 * native plaintext <-> TLS relay. This file is the thin typed face of the
 * addon's TLS sessions (native/src/tls/tls_*.cc); failure.ts turns their
 * failures into errnos, options.ts says what a session takes and gives.
 *
 * Mechanism, not policy: which local identity to present and whether a peer
 * is acceptable are asked of the caller (`credentials`, `verifyPeer`), while
 * the session thread waits. The errno chosen for a failure comes from the
 * table in `failureErrno()` below, or from the caller's own verdict.
 *
 * Descriptors: `startSession` duplicates the socket it is given, synchronously
 * (the caller should close its own right away: a peer waiting for our close
 * after a failure waits for every copy), and hands back `plaintextFd`, a plain
 * descriptor number that the caller owns and must close (wrap it in an
 * OwnedFd, or in a net.Socket with allowHalfOpen). The engine never changes
 * the flags of the caller's socket (it uses MSG_DONTWAIT), but it does set
 * TCP_NODELAY on it and, after a failed handshake, shuts it down.
 *
 * Threads: each handshake runs on a native thread of its own (256 KiB
 * stack; a finished one waits a few seconds to take the next handshake,
 * so threads are reused under load); an established session is then relayed by one of a few relay
 * threads (one per core, at most 4, started with the addon) that poll all
 * their sessions with epoll, so an idle session costs no thread, and two
 * descriptors. `credentials` and `verifyPeer` run on the JavaScript thread
 * while that handshake's thread waits, however long. A running session keeps the event loop alive (like a socket does).
 * On environment teardown (process exit, worker termination) every session
 * of that environment is aborted and its thread waited for (bounded).
 */
import { addon } from '../load';
import { Errno, errnoName } from '../../protocol/errno';
import { errnoOf, Failure, messageOf } from '../../model/failure';
import type { NativeCredentialsObject } from './credentials';
import { type FailureFacts, failureErrno, HANDSHAKE_FAILED, TlsError } from './failure';
import type { CredentialsContext, EndReason, Established, PinContext, Role, SessionControl, SessionEnd, StartOptions, VerifyResult } from './options';
import { type RenegotiatedEvent, Renegotiations } from './renegotiation';

type NativeEvent =
  | {
      type: 'credentials';
      role: Role;
      serverName?: string;
      acceptedIssuers: string[];
      reply(answer: NativeCredentialsObject | null | { errno: number; message: string; alert?: string }): void;
    }
  | {
      type: 'pin';
      tokenUrl: string;
      tokenLabel: string;
      keyUri: string;
      attempt: number;
      wrong: boolean;
      finalTry: boolean;
      countLow: boolean;
      contextSpecific: boolean;
      so: boolean;
      reply(answer: { pin: Uint8Array } | { errno: number; message: string }): void;
    }
  | {
      type: 'verify';
      role: Role;
      chainDer: Buffer[];
      serverName?: string;
      ocspDer?: Buffer;
      reply(answer: VerifyResult): void;
    }
  | {
      type: 'established';
      plaintextFd: number;
      version: string;
      cipher: string;
      serverName?: string;
      peerChainDer: Buffer[];
      mtu?: number;
      resumed: boolean;
      /** When the verdict on the peer is still to give (it showed no certificate during the handshake): relaying waits for it. */
      role?: Role;
      /** The verdict is known (it was given during the handshake); the reply only brings the supplied plaintext socket. */
      verdictKnown?: boolean;
      reply?(answer: VerifyResult & { plaintextFd?: number }): void;
    }
  | RenegotiatedEvent
  | ({ type: 'failed' } & FailureFacts)
  | ({
      type: 'end';
      reason: EndReason;
      truncated: boolean;
      bytesIn: number;
      bytesOut: number;
      droppedDatagrams?: number;
    } & Partial<FailureFacts>);

/** Opaque: an External holding the native session. */
type NativeSessionHandle = { readonly __session: unique symbol };

const native = addon as unknown as {
  tlsStartSession(opts: object, dispatch: (ev: NativeEvent) => void): NativeSessionHandle;
  tlsSessionAbort(handle: NativeSessionHandle): void;
  tlsSessionStats(handle: NativeSessionHandle): { bytesIn: number; bytesOut: number };
  tlsCloseFd(fd: number): void;
  tlsSessionExport(handle: NativeSessionHandle, label: Buffer, context: Buffer | null, length: number): { value?: Buffer; error?: string };
  tlsSessionDatum(handle: NativeSessionHandle, kind: string): { value?: Buffer; error?: string };
};

/** The session's control, bound to its native handle. */
function control(h: NativeSessionHandle, renegotiations: Renegotiations): SessionControl {
  const datum = (kind: string) => native.tlsSessionDatum(h, kind);
  return {
    renegotiate: (timeoutMs) => renegotiations.ask(h, timeoutMs),
    onRenegotiated: (listener) => {
      renegotiations.listener = listener;
    },
    stats: () => native.tlsSessionStats(h),
    abort: () => native.tlsSessionAbort(h),
    exportKeyingMaterial: (label, context, length) => {
      const r = native.tlsSessionExport(h, Buffer.from(label), context ? Buffer.from(context) : null, length);
      if (!r.value) throw new Failure('EINVAL', `no keying material: ${r.error ?? 'the exporter refused'}`);
      return r.value;
    },
    channelBinding: (kind) => {
      const r = datum(kind);
      if (!r.value) throw new Failure('ENOENT', `no ${kind} channel binding: ${r.error ?? 'not available'}`);
      return r.value;
    },
    ownCertificate: () => datum('own-certificate').value,
  };
}

/**
 * Start a TLS/DTLS session on a connected socket. Resolves when the handshake
 * is done and the peer accepted by `verifyPeer`; rejects with a TlsError.
 * After resolving, `onEnd` is called exactly once when the relay ends (never
 * if the promise rejects).
 */
export function startSession(options: StartOptions, onEnd: (end: SessionEnd) => void): Promise<Established> {
  return new Promise<Established>((resolve, reject) => new SessionStart(options, onEnd, resolve, reject).begin());
}

const ABORTED = 'the TLS handshake was aborted';

/** The errno a rejected callback stands for, and its alert when it names one. */
function refusal(err: unknown, fallback: 'EACCES' | 'EIO' | 'ENOKEY'): { errno: number; message: string; alert?: string } {
  const alert = err && typeof err === 'object' ? (err as { alert?: unknown }).alert : undefined;
  return { errno: errnoOf(err, fallback), message: messageOf(err), ...(typeof alert === 'string' ? { alert } : {}) };
}

/**
 * One session from its start until the handshake is settled (and then its
 * end): the native engine's events, one method each. The native session
 * keeps `dispatch` for its 'end' event as long as the connection lasts, so
 * the caller's options (its callbacks, and the request they hold) are let go
 * once the handshake is settled.
 */
class SessionStart {
  private opts: StartOptions | undefined;
  private readonly signal: AbortSignal | undefined;
  private settled = false;
  private established = false;
  private handle: NativeSessionHandle | undefined;
  /** A renegotiation the application asked for, until its outcome. */
  private readonly renegotiations = new Renegotiations();
  private readonly onAbort = () => this.handle && native.tlsSessionAbort(this.handle);

  constructor(
    options: StartOptions,
    private readonly onEnd: (end: SessionEnd) => void,
    private readonly resolve: (e: Established) => void,
    private readonly reject: (e: unknown) => void,
  ) {
    this.opts = options;
    this.signal = options.signal;
  }

  begin(): void {
    if (this.signal?.aborted) {
      this.fail(new TlsError(ABORTED, Errno.ECANCELED, { kind: 'aborted' }));
      return;
    }
    try {
      this.handle = native.tlsStartSession(toNativeOptions(this.opts!), (ev) => this.dispatch(ev));
    } catch (err) {
      // Unusable options or descriptor: EBADF, ENOTSOCK, ENOTCONN, EPROTOTYPE (wrong socket type), EINVAL (priority), ...
      const code = (err as { code?: unknown }).code;
      this.fail(typeof code === 'string' && code in Errno ? new TlsError(messageOf(err), errnoOf(err), { kind: 'local' }) : err);
      return;
    }
    this.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  private dispatch(ev: NativeEvent): void {
    switch (ev.type) {
      case 'credentials':
        return this.credentials(ev);
      case 'pin':
        return this.pin(ev);
      case 'verify':
        void this.verify(ev.role, ev.chainDer, ev.serverName, ev.ocspDer).then((r) => ev.reply(r));
        return;
      case 'established':
        return this.establishedEvent(ev);
      case 'renegotiated':
        return this.renegotiations.outcome(ev);
      case 'failed':
        return this.failed(ev);
      case 'end':
        return this.ended(ev);
    }
  }

  private settle(): void {
    this.settled = true;
    this.opts = undefined;
    this.signal?.removeEventListener('abort', this.onAbort);
  }

  private fail(err: unknown): void {
    this.settle();
    this.reject(err);
  }

  private get aborted(): boolean {
    return this.settled || this.signal?.aborted === true;
  }

  /** The caller's options while the handshake lasts; a callback asked later is refused. */
  private live(): StartOptions {
    if (!this.opts) throw new Failure('ECANCELED', 'the handshake is over');
    return this.opts;
  }

  /** verifyPeer's verdict; a throw is a refusal (EACCES unless it says otherwise). */
  private verify(role: Role, chainDer: Buffer[], serverName: string | undefined, ocspDer?: Buffer): Promise<VerifyResult> {
    const extra = { ...(serverName !== undefined ? { serverName } : {}), ...(ocspDer ? { ocspDer } : {}) };
    return Promise.resolve()
      .then(() => this.live().verifyPeer({ role, chainDer, ...extra }))
      .catch((err: unknown) => ({ ok: false, ...refusal(err, 'EACCES') }) as VerifyResult);
  }

  private credentials(ev: Extract<NativeEvent, { type: 'credentials' }>): void {
    const ctx: CredentialsContext = {
      role: ev.role,
      acceptedIssuers: ev.acceptedIssuers,
      ...(ev.serverName !== undefined ? { serverName: ev.serverName } : {}),
    };
    Promise.resolve()
      .then(() => this.live().credentials(ctx))
      .then(
        (c) => ev.reply((c ?? null) as NativeCredentialsObject | null),
        (err) => ev.reply(refusal(err, 'EIO')),
      );
  }

  private pin(ev: Extract<NativeEvent, { type: 'pin' }>): void {
    const { tokenUrl, tokenLabel, keyUri, wrong, finalTry, countLow, contextSpecific, so } = ev;
    const ctx: PinContext = { tokenUrl, tokenLabel, keyUri, attempt: ev.attempt + 1, wrong, finalTry, countLow, contextSpecific, so };
    Promise.resolve()
      .then(() => {
        const source = this.live().pin;
        if (!source) throw new Failure('ENOKEY', 'no PIN source for this token');
        return source(ctx);
      })
      .then(
        (pin) => {
          try {
            ev.reply({ pin }); // copied into locked native memory before this returns
          } finally {
            pin.fill(0);
          }
        },
        (err) => ev.reply(refusal(err, 'ENOKEY')),
      );
  }

  private establishedEvent(ev: Extract<NativeEvent, { type: 'established' }>): void {
    if (this.aborted) {
      // Aborted meanwhile: the session is going down; nobody takes this fd.
      native.tlsCloseFd(ev.plaintextFd);
      ev.reply?.({ ok: false, errno: Errno.ECANCELED, message: ABORTED });
      if (!this.settled) this.fail(new TlsError(ABORTED, Errno.ECANCELED, { kind: 'aborted' }));
      return;
    }
    if (!ev.reply) {
      this.accept(ev);
      return;
    }
    // The verdict on a peer that showed no certificate during the
    // handshake, asked with the news; a refusal is followed by 'failed'.
    // A plaintext socket the application brings comes after the verdict.
    const verdict = ev.verdictKnown ? Promise.resolve<VerifyResult>({ ok: true }) : this.verify(ev.role!, ev.peerChainDer, ev.serverName);
    void verdict
      .then((r) => this.withPlaintext(r))
      .then((r) => {
        const answer = r.ok && this.aborted ? { ok: false as const, errno: Errno.ECANCELED, message: ABORTED } : r;
        if (!answer.ok && answer.plaintextFd !== undefined) native.tlsCloseFd(answer.plaintextFd);
        ev.reply!(answer.ok ? answer : { ok: false, errno: answer.errno, message: answer.message, ...(answer.alert ? { alert: answer.alert } : {}) });
        if (answer.ok) this.accept(ev);
        else if (ev.plaintextFd >= 0) native.tlsCloseFd(ev.plaintextFd);
      });
  }

  /** A verdict ok, with the application's plaintext socket when it brings one. */
  private async withPlaintext(r: VerifyResult): Promise<VerifyResult & { plaintextFd?: number }> {
    const supply = this.opts?.plaintext;
    if (!r.ok || !supply) return r;
    try {
      return { ok: true, plaintextFd: await supply() };
    } catch (err) {
      const { errno, message } = refusal(err, 'EIO');
      return { ok: false, errno, message };
    }
  }

  private accept(ev: Extract<NativeEvent, { type: 'established' }>): void {
    this.settle();
    this.established = true;
    const h = this.handle!;
    this.resolve({
      plaintextFd: ev.plaintextFd,
      version: ev.version,
      cipher: ev.cipher,
      peerChainDer: ev.peerChainDer,
      resumed: ev.resumed,
      ...(ev.serverName !== undefined ? { serverName: ev.serverName } : {}),
      ...(ev.mtu !== undefined ? { mtu: ev.mtu } : {}),
      session: control(h, this.renegotiations),
    });
  }

  private failed(ev: Extract<NativeEvent, { type: 'failed' }>): void {
    if (this.settled) return;
    const facts = { kind: ev.kind, ...(ev.gnutls !== undefined ? { gnutls: ev.gnutls } : {}), ...(ev.alert !== undefined ? { alert: ev.alert } : {}) };
    this.fail(new TlsError(HANDSHAKE_FAILED + ev.message, failureErrno(ev), facts));
  }

  private ended(ev: Extract<NativeEvent, { type: 'end' }>): void {
    if (!this.established) return;
    this.renegotiations.ended(ev.reason);
    const end: SessionEnd = { reason: ev.reason, bytesIn: ev.bytesIn, bytesOut: ev.bytesOut };
    if (ev.reason === 'error' && ev.kind) {
      const errno = failureErrno(ev as FailureFacts);
      Object.assign(end, { errno, code: errnoName(errno), message: ev.message });
      if (ev.gnutls) end.gnutls = ev.gnutls;
      if (ev.alert) end.alert = ev.alert;
    } else if (ev.reason === 'peer-closed' && ev.truncated) {
      Object.assign(end, { errno: Errno.ECONNRESET, code: 'ECONNRESET', message: 'the peer closed the connection without close_notify' });
    }
    if (ev.droppedDatagrams) end.droppedDatagrams = ev.droppedDatagrams;
    this.onEnd(end);
  }
}

function toNativeOptions(opts: StartOptions): Record<string, unknown> {
  const nativeOpts: Record<string, unknown> = {
    fd: opts.fd,
    role: opts.role,
    transport: opts.transport ?? 'tls',
    certRequest: opts.certRequest ?? 'ignore',
    anonymous: opts.anonymous ?? false,
    handshakeTimeoutMs: opts.handshakeTimeoutMs ?? 60000,
  };
  if (opts.priority !== undefined) nativeOpts.priority = opts.priority;
  if (opts.serverName !== undefined) nativeOpts.serverName = opts.serverName;
  if (opts.mtu !== undefined) nativeOpts.mtu = opts.mtu;
  if (opts.resumption !== undefined) nativeOpts.resumption = opts.resumption;
  if (opts.acceptAnyPeer) nativeOpts.acceptAnyPeer = true;
  if (opts.presetCredentials && opts.role === 'server') nativeOpts.presetCredentials = opts.presetCredentials;
  if (opts.plaintext) nativeOpts.supplyPlaintext = true;
  return nativeOpts;
}
