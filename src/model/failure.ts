/**
 * The one error model: every failure the pool, its clients, the agent and the
 * UI report carries an errno, by name (`code`, e.g. "EACCES") and number
 * (`errno`, Linux's), and a sentence for a person (`message`, cause first,
 * then what to do). That is what the V1 wire carries in an ERROR packet, what
 * the control API puts in `data.code`, and what a CLI prints.
 *
 * Subclasses exist only where a failure carries facts of its own that a
 * caller acts on (the TLS engine's alert, a config file position, ...).
 * Pure: no Node module.
 */
import { Errno, type ErrnoName, errnoName } from '../protocol/errno';

export class Failure extends Error {
  /** The errno name, e.g. "ENOENT" ("E<n>" for a number Linux has no name for). */
  readonly code: string;
  /** The errno number (Linux), e.g. 2. */
  readonly errno: number;

  constructor(code: ErrnoName | number, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.errno = typeof code === 'number' ? code : Errno[code];
    this.code = typeof code === 'number' ? errnoName(code) : code;
  }

  /** A failure named by a string from elsewhere (a peer's answer): EIO when it names no errno. */
  static named(code: string | undefined, message: string): Failure {
    return new Failure(isErrnoName(code) ? code : 'EIO', message);
  }
}

function isErrnoName(s: unknown): s is ErrnoName {
  return typeof s === 'string' && Object.hasOwn(Errno, s);
}

/** Whether something thrown says which errno it is (a Failure, a Node system error): a refusal, not a bug. */
export function hasErrno(e: unknown): boolean {
  return e instanceof Failure || (!!e && typeof e === 'object' && isErrnoName((e as { code?: unknown }).code));
}

/**
 * The errno of anything thrown: its `code` when that names an errno (Node's
 * system errors, a Failure, the addon's errors), else a positive `errno`
 * number, else `fallback`.
 */
export function errnoOf(e: unknown, fallback: ErrnoName = 'EIO'): number {
  if (e && typeof e === 'object') {
    const { code, errno } = e as { code?: unknown; errno?: unknown };
    if (isErrnoName(code)) return Errno[code];
    if (typeof errno === 'number' && errno > 0) return errno;
  }
  return Errno[fallback];
}

/** The errno name of anything thrown (see errnoOf). */
export function codeOf(e: unknown, fallback: ErrnoName = 'EIO'): string {
  return errnoName(errnoOf(e, fallback));
}

/** The message of anything thrown. */
export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Anything thrown, as a Failure (itself when it is one). */
export function toFailure(e: unknown, fallback: ErrnoName = 'EIO'): Failure {
  if (e instanceof Failure) return e;
  return new Failure(errnoOf(e, fallback), messageOf(e), { cause: e });
}
