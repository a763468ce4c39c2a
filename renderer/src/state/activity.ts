/**
 * The last few minutes of the connection log as rates: connections per
 * second by outcome (established, failed) and bytes per second, in buckets
 * of BUCKET_S. Computed from the rows the page holds (which the event stream
 * keeps current), so the chart after a reload is the same as before it.
 * A connection counts at its outcome's time; its bytes when it closed (the
 * daemon counts them at the end).
 */
import type { ConnectionRecord } from '../../../src/model/connection';

export const BUCKET_S = 5;
export const WINDOW_S = 300;
export const BUCKETS = WINDOW_S / BUCKET_S;

export interface ActivityBucket {
  /** Start of the bucket, ms since the epoch. */
  readonly start: number;
  /** Per second, averaged over the bucket. */
  readonly established: number;
  readonly failed: number;
  readonly bytes: number;
}

export interface Activity {
  readonly buckets: readonly ActivityBucket[];
  readonly totals: { readonly established: number; readonly failed: number; readonly bytes: number };
}

/**
 * `rows(i)` is the i-th row most recent first, `count` how many; rows are
 * read until one started before the window (ids grow with the start time;
 * a long connection that started earlier and closed inside the window is
 * counted when it is among the rows read).
 */
export function activity(count: number, rows: (i: number) => ConnectionRecord, now: number): Activity {
  const end = Math.ceil(now / (BUCKET_S * 1000)) * BUCKET_S * 1000;
  const from = end - WINDOW_S * 1000;
  const est = new Array<number>(BUCKETS).fill(0);
  const fail = new Array<number>(BUCKETS).fill(0);
  const bytes = new Array<number>(BUCKETS).fill(0);
  const slot = (iso: string | undefined): number => {
    if (!iso) return -1;
    const t = Date.parse(iso);
    if (Number.isNaN(t) || t < from || t >= end) return -1;
    return Math.floor((t - from) / (BUCKET_S * 1000));
  };
  // Long-lived connections started before the window may still end inside it: read a margin of older rows.
  let older = 0;
  for (let i = 0; i < count && older < 1000; i++) {
    const r = rows(i);
    if (Date.parse(r.startedAt) < from) older++;
    if (r.state === 'failed') {
      const s = slot(r.endedAt);
      if (s >= 0) fail[s]!++;
    } else {
      const s = slot(r.establishedAt);
      if (s >= 0) est[s]!++;
    }
    const b = slot(r.endedAt);
    if (b >= 0) bytes[b]! += r.bytesIn + r.bytesOut;
  }
  const buckets = est.map((_, i) => ({
    start: from + i * BUCKET_S * 1000,
    established: est[i]! / BUCKET_S,
    failed: fail[i]! / BUCKET_S,
    bytes: bytes[i]! / BUCKET_S,
  }));
  const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);
  return { buckets, totals: { established: sum(est), failed: sum(fail), bytes: sum(bytes) } };
}
