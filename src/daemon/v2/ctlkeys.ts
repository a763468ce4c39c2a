/**
 * The V2 control keys: every established V2 session is known by the 16-byte
 * ctlkey its client chose, and is either attached to one pool connection
 * (its control connection, the only one that may use PRNG, INFO or
 * RENEGOTIATE on it) or detached. When a control connection closes, its
 * FORK sessions are detached and the others ended.
 */
import { TlspFailure } from '../../protocol/v2-errors';

/** What the registry keeps of one session. */
export interface Controlled {
  /** The uid that started the session: only it (or root) may reattach it. */
  readonly ownerUid: number;
  /** Survives the close of its control connection (FORK). */
  readonly fork: boolean;
  /** The pool connection in control, or undefined while detached. */
  control: number | undefined;
  /** End the session now (close_notify, both descriptors closed). */
  end(): void;
}

export function keyOf(ctlkey: Uint8Array): string {
  return Buffer.from(ctlkey.subarray(0, 16)).toString('hex');
}

export class CtlKeys {
  private readonly sessions = new Map<string, Controlled>();

  get size(): number {
    return this.sessions.size;
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

  /** The session ended: its key is free again (only if it is still this session's). */
  forget(key: string, s: Controlled): void {
    if (this.sessions.get(key) === s) this.sessions.delete(key);
  }

  /** The session under `client`'s control, or NOT_FOUND. */
  controlled(key: string, client: number): Controlled {
    const s = this.sessions.get(key);
    if (!s || s.control !== client) {
      throw new TlspFailure('E_TLSPOOL_CTLKEY_NOT_FOUND', 'no session with this ctlkey is under the control of this connection');
    }
    return s;
  }

  detach(key: string, client: number): void {
    const s = this.sessions.get(key);
    if (!s) throw new TlspFailure('E_TLSPOOL_CTLKEY_NOT_FOUND', 'no session has this ctlkey (it ended, or never started)');
    if (s.control === undefined) throw new TlspFailure('E_TLSPOOL_CTLKEY_DETACHED', 'this session is already detached; REATTACH takes it back');
    if (s.control !== client) throw new TlspFailure('E_TLSPOOL_CTLKEY_NOT_YOURS', 'this session is controlled by another connection; detach it there');
    s.control = undefined;
  }

  reattach(key: string, client: number, uid: number): void {
    const s = this.sessions.get(key);
    // Another user's session reads as no session: the key is all a client shows, and it may be guessed.
    if (!s || (uid !== 0 && uid !== s.ownerUid)) {
      throw new TlspFailure('E_TLSPOOL_CTLKEY_NOT_FOUND', 'no session of your uid has this ctlkey (it ended, or never started)');
    }
    if (s.control !== undefined) throw new TlspFailure('E_TLSPOOL_CTLKEY_ATTACHED', 'this session is attached to a connection already; DETACH it there first');
    s.control = client;
  }

  /** A pool connection closed: its FORK sessions are detached, the others ended. */
  connectionClosed(client: number): void {
    for (const s of [...this.sessions.values()]) {
      if (s.control !== client) continue;
      s.control = undefined;
      if (!s.fork) s.end();
    }
  }
}
