/**
 * The PIN cache: per token, in memory only. An entry lives until it has not
 * been used for `idleMs`, or `maxMs` after it was made, whichever comes
 * first; then its PIN is wiped and `onExpire` locks the token (logs it out
 * and drops the keys opened with it), so that the next use asks again.
 * A PIN is held as bytes and handed out as copies; every copy the cache made
 * is its own to wipe. Each entry remembers where its PIN came from, so that
 * a refusal of it can be laid at the right door.
 */
import { copyPin } from '../../protocol/pin';
import type { TokenRef } from './token';

export interface CacheEntry {
  readonly token: TokenRef;
  /** Keys opened on this token with this PIN (their URIs). */
  readonly keyUris: Set<string>;
  readonly createdAt: number;
  lastUsedAt: number;
}

/** Where a cached PIN came from: `pin.tokens` in the configuration, or a PIN entry program. */
export type PinSource = 'config' | 'program';

interface Held extends CacheEntry {
  pin: Uint8Array;
  source: PinSource;
  timer?: NodeJS.Timeout;
}

export type ExpiryReason = 'idle' | 'max' | 'lock' | 'wrong';

export interface CacheTimes {
  idleMs: number;
  maxMs: number;
}

export class PinCache {
  private readonly entries = new Map<string, Held>();

  constructor(
    private readonly times: () => CacheTimes,
    private readonly onExpire: (entry: CacheEntry, reason: ExpiryReason) => void,
  ) {}

  /** A copy of the PIN for this token (the caller wipes it), or undefined. Counts as a use. */
  get(token: TokenRef): Uint8Array | undefined {
    const e = this.entries.get(token.key);
    if (!e) return undefined;
    e.lastUsedAt = Date.now();
    this.schedule(e);
    return new Uint8Array(e.pin);
  }

  /**
   * Remember a PIN (a copy is kept) for a token, opened for `keyUri`, and
   * where it came from; without `source`, the PIN is the one held already
   * (handed out again for another key) and keeps its source.
   */
  put(token: TokenRef, pin: Uint8Array, keyUri: string, source?: PinSource): void {
    const old = this.entries.get(token.key);
    const now = Date.now();
    if (old) {
      old.pin.fill(0);
      old.pin = copyPin(pin);
      if (source) old.source = source;
      old.lastUsedAt = now;
      if (keyUri) old.keyUris.add(keyUri);
      this.schedule(old);
      return;
    }
    const e: Held = {
      token,
      pin: copyPin(pin),
      source: source ?? 'program',
      keyUris: new Set(keyUri ? [keyUri] : []),
      createdAt: now,
      lastUsedAt: now,
    };
    this.entries.set(token.key, e);
    this.schedule(e);
  }

  /** A key of this token was used: the idle time starts again. */
  touch(keyUri: string): void {
    const now = Date.now();
    for (const e of this.entries.values()) {
      if (e.keyUris.has(keyUri)) {
        e.lastUsedAt = now;
        this.schedule(e);
      }
    }
  }

  has(token: TokenRef): boolean {
    return this.entries.has(token.key);
  }

  /** Where the PIN held for this token came from, if one is held. */
  source(token: TokenRef): PinSource | undefined {
    return this.entries.get(token.key)?.source;
  }

  list(): CacheEntry[] {
    return [...this.entries.values()].map(({ token, keyUris, createdAt, lastUsedAt }) => ({ token, keyUris, createdAt, lastUsedAt }));
  }

  /** Wipe and forget one token's PIN, then lock it. */
  expire(token: TokenRef, reason: ExpiryReason): void {
    const e = this.entries.get(token.key);
    if (!e) return;
    this.entries.delete(token.key);
    clearTimeout(e.timer);
    e.pin.fill(0);
    // A wrong PIN is only forgotten: the token is in the middle of a login.
    if (reason !== 'wrong') this.onExpire(e, reason);
  }

  /** Wipe and forget every PIN, locking every token. */
  clear(reason: ExpiryReason): void {
    for (const e of [...this.entries.values()]) this.expire(e.token, reason);
  }

  private schedule(e: Held): void {
    clearTimeout(e.timer);
    const { idleMs, maxMs } = this.times();
    const idleAt = e.lastUsedAt + idleMs;
    const maxAt = e.createdAt + maxMs;
    const at = Math.min(idleAt, maxAt);
    e.timer = setTimeout(() => {
      if (this.entries.get(e.token.key) !== e) return;
      const now = Date.now();
      if (now >= maxAt) this.expire(e.token, 'max');
      else if (now >= e.lastUsedAt + this.times().idleMs) this.expire(e.token, 'idle');
      else this.schedule(e);
    }, Math.max(0, at - Date.now()));
    e.timer.unref();
  }
}
