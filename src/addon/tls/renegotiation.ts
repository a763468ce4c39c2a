/**
 * Renegotiation of an established TLS 1.2 session, as the engine offers it
 * (native/src/tls/tls_renegotiate.cc does the handshake on the relay
 * thread): at most one asked at a time per session, settled by the
 * session's 'renegotiated' event, by its end, or by its time running out.
 */
import { addon } from '../load';
import { type RenegotiationOutcome, RenegotiationRefused } from './options';

/** The native event with the outcome of a renegotiation (byPeer: nobody here waits for it). */
export interface RenegotiatedEvent extends RenegotiationOutcome {
  type: 'renegotiated';
}

/** The session handle the addon gave (opaque here). */
type Handle = object;

const native = addon as unknown as {
  tlsSessionRenegotiate(handle: Handle): { ok?: true; error?: string; insecure?: boolean };
  tlsSessionWithdrawRenegotiation(handle: Handle): boolean;
  tlsSessionAbort(handle: Handle): void;
};

interface Asked {
  resolve(r: { version: string; cipher: string }): void;
  reject(e: unknown): void;
}

/** The renegotiation asked of one session, if any. */
export class Renegotiations {
  private current: Asked | undefined;
  /** SessionControl.onRenegotiated's listener. */
  listener: ((r: RenegotiationOutcome) => void) | undefined;

  /** SessionControl.renegotiate (options.ts says what it promises). */
  ask(h: Handle, timeoutMs: number): Promise<{ version: string; cipher: string }> {
    return new Promise((resolve, reject) => {
      if (this.current) throw new RenegotiationRefused('not-now', 'a renegotiation of this session is under way');
      const r = native.tlsSessionRenegotiate(h);
      if (!r.ok) throw new RenegotiationRefused(r.insecure ? 'insecure' : 'not-now', r.error ?? 'the session cannot renegotiate');
      const timer = setTimeout(() => this.late(h, mine, timeoutMs), timeoutMs);
      const mine: Asked = {
        resolve: (v) => (clearTimeout(timer), resolve(v)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      };
      this.current = mine;
    });
  }

  /** The native outcome: the one asked for settles; the peer's own are the session's business. */
  outcome(ev: RenegotiatedEvent): void {
    const { outcome, byPeer, version, cipher, message } = ev;
    this.listener?.({ outcome, byPeer, version, cipher, ...(message !== undefined ? { message } : {}) });
    if (ev.byPeer) return;
    const asked = this.take();
    if (ev.outcome === 'done') asked?.resolve({ version: ev.version, cipher: ev.cipher });
    else asked?.reject(new RenegotiationRefused(ev.outcome, ev.message ?? 'the renegotiation failed'));
  }

  /** The session ended: nothing asked will be done. */
  ended(reason: string): void {
    this.take()?.reject(new RenegotiationRefused('failed', `the session ended before the renegotiation was done (${reason})`));
  }

  /** Time is up: withdrawn if its handshake has not begun (the session goes on), else the session ends. */
  private late(h: Handle, asked: Asked, timeoutMs: number): void {
    if (this.current !== asked) return;
    this.current = undefined;
    const s = `${timeoutMs / 1000} s`;
    if (native.tlsSessionWithdrawRenegotiation(h)) {
      asked.reject(new RenegotiationRefused('not-now', `no new handshake began within ${s} (the peer did not answer); the session goes on`));
    } else {
      native.tlsSessionAbort(h);
      asked.reject(new RenegotiationRefused('failed', `the new handshake took more than ${s}; the session was ended`));
    }
  }

  private take(): Asked | undefined {
    const asked = this.current;
    this.current = undefined;
    return asked;
  }
}
