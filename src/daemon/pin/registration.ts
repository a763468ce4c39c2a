/**
 * A PIN entry program as the broker sees it: what a PIN is needed for, one
 * prompt and its answer, and the queue of prompts for one registered
 * program (one outstanding PINENTRY request at a time).
 */
import type { ClientInfo } from '../server/request';
import type { TokenRef } from './token';

/** What a PIN is needed for (from the engine's PinContext and the STARTTLS request). */
export interface PinNeed {
  readonly token: TokenRef;
  readonly keyUri: string;
  /** 1 for the first PIN of a login. */
  readonly attempt: number;
  readonly wrong: boolean;
  readonly finalTry: boolean;
  readonly countLow: boolean;
  readonly requester?: { pid: number; executable?: string; command?: string[] };
  readonly peer?: string;
}

export type PromptAnswer = { kind: 'pin'; pin: Uint8Array } | { kind: 'cancel' } | { kind: 'stop' } | { kind: 'gone' };

/** One prompt for one program. */
export interface PromptJob {
  readonly need: PinNeed;
  readonly prompt: string;
  readonly timeoutUs: number;
  /** The program's answer; after a timeout it is ignored (and a PIN in it wiped). */
  answer(a: PromptAnswer): void;
  readonly settled: boolean;
}

/** A PIN entry program with an open offer (one outstanding PINENTRY request). */
export class PinEntryRegistration {
  lastAnswerAt?: number;
  private readonly queue: PromptJob[] = [];
  private waiter?: (job: PromptJob) => void;

  constructor(
    readonly client: ClientInfo,
    readonly shared: boolean,
  ) {}

  /** The next prompt to send; rejects with the signal's reason when it aborts. */
  next(signal: AbortSignal): Promise<PromptJob> {
    for (;;) {
      const job = this.queue.shift();
      if (!job) break;
      if (!job.settled) return Promise.resolve(job);
    }
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise<PromptJob>((resolve, reject) => {
      const onAbort = () => {
        this.waiter = undefined;
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiter = (job) => {
        signal.removeEventListener('abort', onAbort);
        this.waiter = undefined;
        resolve(job);
      };
    });
  }

  deliver(job: PromptJob): void {
    if (this.waiter) this.waiter(job);
    else this.queue.push(job);
  }

  /** Jobs never sent: the program is leaving. */
  drain(): PromptJob[] {
    return this.queue.splice(0);
  }
}

