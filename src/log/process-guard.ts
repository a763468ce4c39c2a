/**
 * The daemon's last line of defence: a promise rejection nobody handled, or
 * an exception thrown from a callback nobody wrapped, is logged with its
 * stack and counted instead of ending the process. Every request has its own
 * try/finally (server/session.ts); reaching this guard means a bug, and one
 * request's bug must not take every other application's connections down.
 * The count is in the control socket's `status` so a monitor can see it.
 */
import type { Logger } from './logger';

let installed: { count: number; log: Logger } | undefined;

/** Install once per process (later calls only switch the logger); returns how many were caught so far. */
export function guardProcess(log: Logger): () => number {
  if (installed) {
    installed.log = log;
  } else {
    const state = { count: 0, log };
    const caught = (kind: string) => (e: unknown) => {
      state.count++;
      state.log.error(`unexpected ${kind}; the pool goes on (this is a bug: please report it with this line)`, {
        error: e,
        stack: e instanceof Error ? e.stack : undefined,
        count: state.count,
      });
    };
    process.on('unhandledRejection', caught('unhandled rejection'));
    process.on('uncaughtException', caught('exception'));
    installed = state;
  }
  return () => installed!.count;
}
