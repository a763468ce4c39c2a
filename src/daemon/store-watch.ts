/**
 * Changes to the state database made by another process (`tlspool identity`,
 * `tlspool trust`, `tlspool rules`): noticed through SQLite's data_version,
 * before every STARTTLS and on a timer, so the daemon drops what it loaded
 * and every subscriber (the desktop agent, and through it every open UI)
 * hears of it without asking.
 *
 * Which table changed is not told: a digest per table, kept from before the
 * change, misses a change that undoes one this daemon made itself (a rule
 * added here, revoked by the CLI). Another process only writes identities,
 * trust anchors and rules (the connection log is the daemon's alone), so a
 * change is reported as a change of those three; reading them again is cheap.
 */
import { changeWatcher, type Db } from '../store/db';

export type StorePart = 'identities' | 'trust' | 'rules';
export const STORE_PARTS: readonly StorePart[] = ['identities', 'trust', 'rules'];

/** How often the timer looks: a person who just ran the CLI sees the UI follow within this. */
export const STORE_POLL_MS = 250;

export class StoreWatch {
  private readonly changed: () => boolean;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    db: Db,
    /** Another process changed the database. */
    private readonly onChange: (parts: readonly StorePart[]) => void,
  ) {
    this.changed = changeWatcher(db);
  }

  /** Look now: calls onChange when another process committed a change since the last look. */
  check(): void {
    if (this.changed()) this.onChange(STORE_PARTS);
  }

  /** Look every STORE_POLL_MS until stop(); the timer does not keep the process alive. */
  start(): void {
    this.timer ??= setInterval(() => this.check(), STORE_POLL_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
