/**
 * The V2 control keys: every V2 session is known by the 16-byte ctlkey its
 * client chose, from its STARTTLS request (reserved, so that two requests
 * cannot race for one key) until it ends. An established session is either
 * attached to one pool connection (its control connection, the only one
 * that may use PRNG, INFO or RENEGOTIATE on it) or detached. When a control
 * connection closes, its FORK sessions are detached and the others ended.
 * Detached sessions are bounded in number and in how long they stay
 * detached (limits.detached_sessions, limits.detached_lifetime).
 */
import type { SessionControl } from '../../addon/tls/options';
import type { Role } from '../../model/connection';
import { Failure } from '../../model/failure';
import { TlspFailure } from '../../protocol/v2-errors';

/** What PRNG, INFO and RENEGOTIATE need of an established session. */
export interface SessionFacts {
  readonly control: SessionControl;
  readonly role: Role;
  /** GnuTLS names: 'TLS1.3', 'TLS1.2', 'DTLS1.2'. */
  readonly version: string;
  /** The peer's chain as it sent it, leaf first (DER). */
  readonly peerChainDer: readonly Buffer[];
  /** The identities the session was established with (as its STARTTLS answer said). */
  readonly localid: string;
  readonly remoteid: string;
}

/** What the registry keeps of one session. */
export interface Controlled {
  /** The uid that started the session: only it (or root) may reattach it. */
  readonly ownerUid: number;
  /** Survives the close of its control connection (FORK). */
  readonly fork: boolean;
  /** The pool connection in control, or undefined while detached (or still in its handshake). */
  control: number | undefined;
  /** Set once the handshake is done; until then the key is only reserved. */
  session?: SessionFacts;
  /** End the session now (close_notify, both descriptors closed). */
  end(): void;
}

export interface DetachLimits {
  /** Detached sessions at most, in the whole pool. */
  readonly detached_sessions: number;
  /** Seconds a session may stay detached before it is ended. */
  readonly detached_lifetime: number;
}

export function keyOf(ctlkey: Uint8Array): string {
  return Buffer.from(ctlkey.subarray(0, 16)).toString('hex');
}

const DEFAULT_LIMITS: DetachLimits = { detached_sessions: 256, detached_lifetime: 3600 };

export class CtlKeys {
  private readonly sessions = new Map<string, Controlled>();
  /** The sessions detached now, with the timer that ends each. */
  private readonly detachedTimers = new Map<Controlled, NodeJS.Timeout>();

  constructor(private readonly limits: () => DetachLimits = () => DEFAULT_LIMITS) {}

  get size(): number {
    return this.sessions.size;
  }

  get detachedCount(): number {
    return this.detachedTimers.size;
  }

  /** Whether a live session holds this key. */
  has(key: string): boolean {
    return this.sessions.has(key);
  }

  register(key: string, s: Controlled): void {
    if (this.sessions.has(key)) {
      throw new TlspFailure('E_TLSPOOL_CTLKEY_REGISTRATION_FAILED', 'this ctlkey is already used by a live session; choose 16 fresh random bytes');
    }
    this.sessions.set(key, s);
  }

  /** Whether one more session may be detached. */
  roomToDetach(): boolean {
    return this.detachedTimers.size < this.limits().detached_sessions;
  }

  /** The handshake is over: the session is attached to `control`, or detached (DETACH). */
  established(s: Controlled, facts: SessionFacts, control: number | undefined): void {
    s.session = facts;
    s.control = control;
    if (control === undefined) this.startDetached(s);
  }

  /** The session ended: its key is free again (only if it is still this session's). */
  forget(key: string, s: Controlled): void {
    this.stopDetached(s);
    if (this.sessions.get(key) === s) this.sessions.delete(key);
  }

  /** The established session under `client`'s control, or NOT_FOUND. */
  controlled(key: string, client: number): Controlled & { session: SessionFacts } {
    const s = this.sessions.get(key);
    if (!s || !s.session || s.control !== client) {
      throw new TlspFailure('E_TLSPOOL_CTLKEY_NOT_FOUND', 'no session with this ctlkey is under the control of this connection');
    }
    return s as Controlled & { session: SessionFacts };
  }

  detach(key: string, client: number): void {
    const s = this.sessions.get(key);
    if (!s || !s.session) throw new TlspFailure('E_TLSPOOL_CTLKEY_NOT_FOUND', 'no session has this ctlkey (it ended, or never started)');
    if (s.control === undefined) throw new TlspFailure('E_TLSPOOL_CTLKEY_DETACHED', 'this session is already detached; REATTACH takes it back');
    if (s.control !== client) throw new TlspFailure('E_TLSPOOL_CTLKEY_NOT_YOURS', 'this session is controlled by another connection; detach it there');
    if (!this.roomToDetach()) {
      throw new Failure('EBUSY', `${this.detachedTimers.size} sessions are detached already (limits.detached_sessions); reattach or end one`);
    }
    s.control = undefined;
    this.startDetached(s);
  }

  reattach(key: string, client: number, uid: number): void {
    const s = this.sessions.get(key);
    // Another user's session reads as no session: the key is all a client shows, and it may be guessed.
    if (!s || !s.session || (uid !== 0 && uid !== s.ownerUid)) {
      throw new TlspFailure('E_TLSPOOL_CTLKEY_NOT_FOUND', 'no session of your uid has this ctlkey (it ended, or never started)');
    }
    if (s.control !== undefined) throw new TlspFailure('E_TLSPOOL_CTLKEY_ATTACHED', 'this session is attached to a connection already; DETACH it there first');
    this.stopDetached(s);
    s.control = client;
  }

  /** A pool connection closed: its FORK sessions are detached (room permitting), the others ended. */
  connectionClosed(client: number): void {
    for (const s of [...this.sessions.values()]) {
      if (s.control !== client) continue;
      s.control = undefined;
      if (s.fork && this.roomToDetach()) this.startDetached(s);
      else s.end();
    }
  }

  /** End every session (the daemon stops). */
  endAll(): void {
    for (const s of [...this.sessions.values()]) s.end();
  }

  private startDetached(s: Controlled): void {
    this.stopDetached(s);
    const timer = setTimeout(() => {
      this.detachedTimers.delete(s);
      s.end();
    }, this.limits().detached_lifetime * 1000);
    timer.unref();
    this.detachedTimers.set(s, timer);
  }

  private stopDetached(s: Controlled): void {
    const t = this.detachedTimers.get(s);
    if (t) clearTimeout(t);
    this.detachedTimers.delete(s);
  }
}
