/**
 * The agent as a PIN entry program on the pool socket (V1 PINENTRY,
 * exclusive): every prompt becomes a PinPromptView in the UiState until a
 * person answers or cancels it, or its time passes. While the connection
 * lives the offer is kept open; another program holding PIN entry (EBUSY)
 * makes it try again later.
 */
import { randomUUID } from 'node:crypto';
import type { PinPrompt, PoolClient } from '../../client/pool-client';
import { Failure } from '../../model/failure';
import type { PinPromptView } from '../../contract/desktop';
import { pinProblem } from '../../protocol/pin';
import type { UiStore } from './state';

interface Waiting {
  readonly view: PinPromptView;
  settle(answer: Uint8Array | null): void;
}

/** How long after a prompt's time the agent drops it, when the pool has not yet said so. */
const EXPIRY_GRACE_MS = 2000;

export interface PinEntryOptions {
  /** How long to wait before offering again after EBUSY. */
  retryMs: number;
  now?: () => number;
}

export class PinEntry {
  private readonly waiting = new Map<string, Waiting>();
  private readonly now: () => number;

  constructor(
    private readonly store: UiStore,
    private readonly opts: PinEntryOptions,
  ) {
    this.now = opts.now ?? Date.now;
  }

  /** Offer PIN entry on `client` until it closes. */
  async run(client: PoolClient): Promise<void> {
    let busyNoticed = false;
    for (;;) {
      try {
        await client.offerPinEntry({ onPrompt: (p) => this.prompt(p) });
        // Only a 'stop' ends an offer with SUCCESS, and we never stop: offer again.
      } catch (e) {
        if (!(e instanceof Failure)) throw e;
        if (!client.isOpen) return; // the connection is gone; the agent reconnects
        if (e.code !== 'EBUSY') {
          // An answer the pool could not take ended the registration (answer() refuses those first): offer again.
          this.store.notice('error', `PIN entry: ${e.message}; offering PIN entry again`);
          continue;
        }
        if (!busyNoticed) {
          this.store.notice('warn', `another PIN entry program holds PIN entry (${e.message}); PINs are asked there until it leaves`);
          busyNoticed = true;
        }
        const closed = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), this.opts.retryMs);
          client.onClose(() => {
            clearTimeout(timer);
            resolve(true);
          });
        });
        if (closed) return;
      }
    }
  }

  /**
   * Send the PIN as typed. Bytes given here are this object's from now on:
   * wiped when refused, and by the pool client once written. A PIN the pool
   * cannot take (pinProblem) is refused with EINVAL and what is wrong, and
   * the prompt stays, for the person to type it again.
   */
  answer(id: string, pin: string | Uint8Array): void {
    const bytes = typeof pin === 'string' ? new TextEncoder().encode(pin) : pin;
    try {
      if (bytes.byteLength === 0) throw new Failure('EINVAL', 'an empty PIN would cancel the prompt; use cancelPin to cancel');
      const problem = pinProblem(bytes);
      if (problem) throw new Failure('EINVAL', problem);
      const w = this.take(id);
      w.settle(bytes);
      // In place of "attempt 2: the last PIN was wrong": what was done; the connection's outcome follows.
      this.store.notice('info', `PIN sent for token "${w.view.tokenLabel}"`, 'pin');
    } catch (e) {
      bytes.fill(0);
      throw e;
    }
  }

  /** The STARTTLS that needed the PIN fails with ECANCELED. */
  cancel(id: string): void {
    this.take(id).settle(null);
  }

  /** The connection went away: its prompts can no longer be answered. */
  dropAll(): void {
    for (const w of [...this.waiting.values()]) w.settle(null);
  }

  private take(id: string): Waiting {
    const w = this.waiting.get(id);
    if (!w) throw new Failure('ENOENT', `no PIN prompt ${id} is waiting: it was answered, cancelled or timed out (get the state again)`);
    return w;
  }

  private prompt(p: PinPrompt): Promise<Uint8Array | null> {
    const view: PinPromptView = {
      id: randomUUID(),
      tokenLabel: p.token.label,
      manufacturer: p.token.manufacturer,
      model: p.token.model,
      serial: p.token.serial,
      prompt: p.prompt,
      attempt: p.attempt,
      expiresAt: new Date(this.now() + p.timeoutUs / 1000).toISOString(),
    };
    return new Promise((resolve) => {
      // Past its time the pool has given up (ETIMEDOUT) and ignores a late
      // answer; cancelling keeps our offer going for the next prompt. The
      // grace lets the pool's own timeout come first on a busy machine, so
      // that the application is told the prompt timed out, not cancelled.
      const timer = setTimeout(() => {
        this.store.notice('warn', `the PIN prompt for token "${view.tokenLabel}" timed out`, 'pin');
        settle(null);
      }, p.timeoutUs / 1000 + EXPIRY_GRACE_MS);
      timer.unref();
      const settle = (answer: Uint8Array | null) => {
        if (!this.waiting.delete(view.id)) return;
        clearTimeout(timer);
        this.store.removePinPrompt(view.id);
        resolve(answer);
      };
      this.waiting.set(view.id, { view, settle });
      this.store.addPinPrompt(view);
      const again = p.attempt > 1 ? ` (attempt ${p.attempt}: the last PIN was wrong)` : '';
      this.store.notice(p.attempt > 1 ? 'warn' : 'info', `PIN asked for token "${view.tokenLabel}"${again}`, 'pin');
    });
  }
}
