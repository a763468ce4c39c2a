/**
 * The PIN broker: where a token's PIN comes from when GnuTLS asks for one.
 * In this order: the PIN cache; a PIN from the configuration (allowed,
 * logged as discouraged); the registered PIN entry programs (PINENTRY,
 * the protocol text, "Token PIN entry"; docs/protocol.md), waiting up to
 * `pin.wait_for_program` for one to register when none is.
 *
 * Requests for one token (and attempt) share one prompt. A wrong PIN is
 * never offered again: the next request (GnuTLS's next attempt) skips the
 * cache and the configuration and prompts with the attempt it carries.
 * A configured PIN the token refused (at once, or later from the cache) is
 * not used for that token again until its entry in `pin.tokens` changes in a
 * reloaded configuration (configReloaded): each try of it costs the token
 * one of its retries, and the pool never tries a PIN on its own twice.
 * PINs are bytes; every array handed out is a copy its receiver wipes.
 */
import type { PoolEvent } from '../../model/events';
import type { TokenRefView } from '../../model/tokens';
import type { Logger } from '../../log/logger';
import { copyPin } from '../../protocol/pin';
import type { ClientInfo } from '../server/request';
import { type CacheEntry, type ExpiryReason, PinCache } from './cache';
import { describeProgram } from '../../util/program';
import { promptText } from './prompt';
import type { TokenRef } from './token';
import { type PinNeed, PinEntryRegistration, type PromptAnswer, type PromptJob } from './registration';

export type { PinNeed, PromptJob } from './registration';
import { Failure } from '../../model/failure';

export interface PinConfig {
  /** How long a request waits for a program to register when none is. */
  waitForProgramMs: number;
  /** timeout_us told to a program: how long it may take to answer. */
  entryTimeoutUs: number;
  idleMs: number;
  maxMs: number;
  /** PINs from the configuration file, by token label (discouraged). */
  tokenPins: ReadonlyArray<{ label: string; pin: string }>;
}

function fail(code: 'ENOKEY' | 'ECANCELED' | 'ETIMEDOUT' | 'EPIPE' | 'EBUSY', message: string): Failure {
  return new Failure(code, message);
}

export class PinBroker {
  readonly cache: PinCache;
  private readonly programs: PinEntryRegistration[] = [];
  private readonly asking = new Map<string, Promise<Uint8Array>>();
  private readonly registrationWaiters = new Set<() => void>();
  /** Tokens (by TokenRef.key) that refused the PIN configured for them in pin.tokens. */
  private readonly refusedConfigured = new Map<string, TokenRef>();
  /** Tokens whose last PIN came from a program, by TokenRef.key: the attempt, until a handshake shows it was right. */
  private readonly unconfirmed = new Map<string, number>();
  /** An exclusive program that left keeps its claim until timeout_us after its last answer. */
  private hold?: { uid: number; executable?: string; until: number; pid: number; who: string };

  constructor(
    private readonly config: () => PinConfig,
    private readonly log: Logger,
    onExpire: (entry: CacheEntry, reason: ExpiryReason) => void,
    /** Where the broker tells what happens (for the control socket); never given a PIN. */
    private readonly emit: (event: PoolEvent) => void = () => {},
  ) {
    this.cache = new PinCache(() => ({ idleMs: this.config().idleMs, maxMs: this.config().maxMs }), onExpire);
  }

  /** A program offers PIN entry. Throws EBUSY while another holds it exclusively (or this one wants to, while others are registered). */
  register(client: ClientInfo, shared: boolean): PinEntryRegistration {
    const now = Date.now();
    const hold = this.hold;
    if (hold && now < hold.until && !(hold.uid === client.peer.uid && hold.executable === client.executable)) {
      throw fail('EBUSY', `PIN entry is held by ${hold.who} for ${Math.ceil((hold.until - now) / 1000)} s more: it left, and may come back`);
    }
    const holder = this.programs.find((r) => !r.shared || !shared);
    if (holder) {
      const who = describeProgram(holder.client.peer.pid, holder.client.executable);
      throw fail(
        'EBUSY',
        holder.shared ? `PIN entry is shared by ${who} and others: offer shared PIN entry too` : `PIN entry is held by ${who}: answer PINs there, or stop it`,
      );
    }
    const reg = new PinEntryRegistration(client, shared);
    this.programs.push(reg);
    this.hold = undefined;
    this.log.info('PIN entry program registered', { client: client.id, pid: client.peer.pid, executable: client.executable, shared });
    for (const w of [...this.registrationWaiters]) w();
    this.emit({ type: 'pinentry-registered', pid: client.peer.pid, executable: client.executable, shared });
    return reg;
  }

  /** The program left (disconnected, stopped, or failed): its unsent prompts go to the next program. */
  unregister(reg: PinEntryRegistration): void {
    const i = this.programs.indexOf(reg);
    if (i < 0) return;
    this.programs.splice(i, 1);
    if (!reg.shared && reg.lastAnswerAt !== undefined) {
      this.hold = {
        uid: reg.client.peer.uid,
        executable: reg.client.executable,
        pid: reg.client.peer.pid,
        who: describeProgram(reg.client.peer.pid, reg.client.executable),
        until: reg.lastAnswerAt + this.config().entryTimeoutUs / 1000,
      };
    }
    for (const job of reg.drain()) job.answer({ kind: 'gone' });
    this.log.info('PIN entry program unregistered', { client: reg.client.id, pid: reg.client.peer.pid });
    this.emit({ type: 'pinentry-left', pid: reg.client.peer.pid });
  }

  /** The registered PIN entry programs, for status. */
  programList(): Array<{ pid: number; executable?: string; shared: boolean }> {
    return this.programs.map((r) => ({ pid: r.client.peer.pid, executable: r.client.executable, shared: r.shared }));
  }

  get programCount(): number {
    return this.programs.length;
  }

  /** A key on some token was used: its PIN's idle time starts again. */
  touch(keyUri: string): void {
    this.cache.touch(keyUri);
  }

  /** Forget every PIN and lock every token the pool unlocked; returns how many. */
  lock(): number {
    const n = this.cache.list().length;
    this.cache.clear('lock');
    this.emit({ type: 'tokens-locked', count: n });
    return n;
  }

  /** Forget the PIN of the token(s) labelled `label` and log them out; returns how many. */
  lockLabel(label: string): number {
    const held = this.cache.list().filter((e) => e.token.label === label);
    for (const e of held) this.cache.expire(e.token, 'lock');
    this.emit({ type: 'tokens-locked', count: held.length });
    return held.length;
  }

  /** Whether the pool holds this token unlocked. */
  unlocked(token: TokenRef): boolean {
    return this.cache.has(token);
  }

  /**
   * The PIN for `need`, as a fresh copy the caller wipes. Rejects with
   * ECANCELED (a person cancelled), ETIMEDOUT (no answer in time), EPIPE
   * (the program left and no other took over), ENOKEY (no program to ask),
   * or the signal's reason.
   */
  async request(need: PinNeed, signal: AbortSignal): Promise<Uint8Array> {
    this.log.debug('PIN needed', { token: need.token.label, attempt: need.attempt, key: need.keyUri });
    if (need.wrong) {
      // The PIN just refused is the one cached for this token (put when it was handed out).
      if (this.cache.source(need.token) === 'config') this.configuredRefused(need.token);
      this.cache.expire(need.token, 'wrong');
    } else if (need.attempt === 1) {
      const cached = this.cache.get(need.token);
      if (cached) {
        if (need.keyUri) this.cache.put(need.token, cached, need.keyUri);
        return cached;
      }
      const configured = this.configuredPin(need.token);
      if (configured !== undefined) {
        this.log.warn('using a PIN from the configuration file; this is discouraged (use a PIN entry program)', { token: need.token.label });
        const pin = new TextEncoder().encode(configured);
        this.cache.put(need.token, pin, need.keyUri, 'config');
        return pin;
      }
    }
    const key = `${need.token.key}\u0000${need.attempt}`;
    let shared = this.asking.get(key);
    if (!shared) {
      shared = this.ask(need);
      this.asking.set(key, shared);
      const forget = () => {
        this.asking.delete(key);
      };
      shared.then(
        (pin) => {
          forget();
          this.unconfirmed.set(need.token.key, need.attempt);
          this.cache.put(need.token, pin, need.keyUri, 'program');
          // Every waiter copies in a microtask; then the original goes.
          setImmediate(() => pin.fill(0));
        },
        forget,
      );
    }
    const pin = await abortable(shared, signal);
    if (need.keyUri) this.cache.put(need.token, pin, need.keyUri, 'program');
    return copyPin(pin);
  }

  /**
   * A handshake that needed this token's key is established, so the PIN it
   * was given is right. When a PIN entry program gave that PIN, this is told
   * (a program that was told "wrong PIN" can then say the next one worked).
   */
  accepted(token: TokenRef): void {
    const attempt = this.unconfirmed.get(token.key);
    if (attempt === undefined) return;
    this.unconfirmed.delete(token.key);
    this.log.info('PIN accepted', { token: token.label, attempt });
    this.emit({ type: 'pin-accepted', token: tokenView(token), attempt });
  }

  /**
   * The configuration was read again; `previous` is what it said before. A
   * token that refused its configured PIN may have it tried again only when
   * its entry in pin.tokens changed (or went): a reload for anything else
   * must not cost the token another retry.
   */
  configReloaded(previous: PinConfig): void {
    const pinOf = (c: PinConfig, label: string) => c.tokenPins.find((t) => t.label === label)?.pin;
    const now = this.config();
    for (const [key, token] of [...this.refusedConfigured]) {
      if (pinOf(previous, token.label) === pinOf(now, token.label)) continue;
      this.refusedConfigured.delete(key);
      this.log.info('the entry for this token in pin.tokens changed; a PIN configured there will be tried again', { token: token.label });
    }
  }

  /** The PIN configured for this token, unless the token refused it. */
  private configuredPin(token: TokenRef): string | undefined {
    const configured = this.config().tokenPins.find((t) => t.label === token.label);
    if (!configured) return undefined;
    if (this.refusedConfigured.has(token.key)) {
      this.log.debug('not using the PIN configured in pin.tokens: the token refused it', { token: token.label });
      return undefined;
    }
    return configured.pin;
  }

  private configuredRefused(token: TokenRef): void {
    if (this.refusedConfigured.has(token.key)) return;
    this.refusedConfigured.set(token.key, token);
    this.log.warn(
      `the PIN configured for token ${token.label} in pin.tokens was refused by the token; it will not be tried again until that entry changes in a reloaded configuration`,
      { token: token.label },
    );
  }

  private async ask(need: PinNeed): Promise<Uint8Array> {
    const tried = new Set<PinEntryRegistration>();
    const config = this.config();
    const waitUntil = Date.now() + config.waitForProgramMs;
    let last: Failure | undefined;
    for (;;) {
      const reg = this.programs.find((r) => !tried.has(r));
      if (!reg) {
        if (last) throw last;
        this.log.info('waiting for a PIN entry program', { token: need.token.label, seconds: Math.round(config.waitForProgramMs / 1000) });
        if (!(await this.waitForProgram(waitUntil))) {
          throw fail(
            'ENOKEY',
            this.refusedConfigured.has(need.token.key)
              ? `token "${need.token.label}" refused the PIN in pin.tokens and no PIN entry program registered; run: tlspool pinentry`
              : `token "${need.token.label}" needs its PIN and no PIN entry program registered; run: tlspool pinentry`,
          );
        }
        continue;
      }
      tried.add(reg);
      const answer = await this.prompt(reg, need);
      switch (answer.kind) {
        case 'pin':
          return answer.pin;
        case 'cancel':
          throw fail('ECANCELED', `PIN entry for token "${need.token.label}" was cancelled`);
        case 'timeout':
          last = fail('ETIMEDOUT', `no PIN for token "${need.token.label}" within ${Math.round(config.entryTimeoutUs / 1e6)} s`);
          break;
        default:
          last = fail('EPIPE', `the PIN entry program left before giving the PIN for token "${need.token.label}"`);
      }
    }
  }

  private prompt(reg: PinEntryRegistration, need: PinNeed): Promise<PromptAnswer | { kind: 'timeout' }> {
    const timeoutUs = this.config().entryTimeoutUs;
    return new Promise((resolve) => {
      let settled = false;
      const timer = setTimeout(() => settle({ kind: 'timeout' }), timeoutUs / 1000);
      const settle = (a: PromptAnswer | { kind: 'timeout' }) => {
        if (settled) {
          if (a.kind === 'pin') a.pin.fill(0);
          return;
        }
        settled = true;
        clearTimeout(timer);
        // Only the kind of answer is told, never the PIN.
        const outcome = a.kind === 'stop' ? 'gone' : a.kind;
        this.emit({ type: 'pin-answered', token: tokenView(need.token), attempt: need.attempt, outcome });
        resolve(a);
      };
      const job: PromptJob = {
        need,
        prompt: promptText(need),
        timeoutUs,
        answer: settle,
        get settled() {
          return settled;
        },
      };
      this.log.info('PIN requested', {
        token: need.token.label,
        attempt: need.attempt,
        program: reg.client.id,
        requester_pid: need.requester?.pid,
        peer: need.peer,
      });
      this.emit({ type: 'pin-requested', token: tokenView(need.token), attempt: need.attempt, requester: need.requester, peer: need.peer });
      reg.deliver(job);
    });
  }

  private waitForProgram(until: number): Promise<boolean> {
    if (this.programs.length > 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        this.registrationWaiters.delete(onRegister);
        resolve(ok);
      };
      const onRegister = () => done(true);
      const timer = setTimeout(() => done(false), Math.max(0, until - Date.now()));
      this.registrationWaiters.add(onRegister);
    });
  }
}

function tokenView(t: TokenRef): TokenRefView {
  return { label: t.label, manufacturer: t.manufacturer, model: t.model, serial: t.serial };
}

function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
