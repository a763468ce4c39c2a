/**
 * Log lines about something that can happen thousands of times a second
 * (a full descriptor table, a limit an attacker keeps hitting), at most one
 * line per kind per interval: the first at once, then, at the end of each
 * interval in which it happened again, one line with the latest details and
 * `repeated`, the number of times since the line before.
 */
import type { LogFields, Logger } from './logger';

/** The interval the issue asks for: one line per kind per 10 s at most. */
export const RATE_LIMIT_MS = 10_000;

interface Window {
  readonly timer: NodeJS.Timeout;
  repeated: number;
  msg: string;
  fields?: LogFields;
}

export class RateLimitedLog {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly log: Logger,
    private readonly intervalMs = RATE_LIMIT_MS,
  ) {}

  /** A warning of `kind`: logged now, or counted into the line at the end of the current interval. */
  warn(kind: string, msg: string, fields?: LogFields): void {
    const open = this.windows.get(kind);
    if (open) {
      open.repeated++;
      open.msg = msg;
      open.fields = fields;
      return;
    }
    this.log.warn(msg, fields);
    this.open(kind);
  }

  /** Log what is counted and not yet logged (at shutdown); later warnings start afresh. */
  flush(): void {
    for (const [kind, w] of [...this.windows]) {
      clearTimeout(w.timer);
      this.windows.delete(kind);
      if (w.repeated > 0) this.log.warn(w.msg, { ...w.fields, repeated: w.repeated, interval_s: this.intervalMs / 1000 });
    }
  }

  private open(kind: string): void {
    const timer = setTimeout(() => {
      const w = this.windows.get(kind)!;
      this.windows.delete(kind);
      if (w.repeated === 0) return;
      this.log.warn(w.msg, { ...w.fields, repeated: w.repeated, interval_s: this.intervalMs / 1000 });
      // Still happening: the next line no sooner than one interval from now.
      this.open(kind);
    }, this.intervalMs);
    timer.unref();
    this.windows.set(kind, { timer, repeated: 0, msg: '', fields: undefined });
  }
}
