/**
 * LOCAL LOOP_STATS (constants.ts): how long the daemon's event loop was late,
 * which is what every STARTTLS callback and every pool request waits behind.
 * The histogram starts at the first request, so a daemon nobody measures
 * runs no sampling timer.
 */
import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import { LocalCmd } from '../../protocol/constants';
import type { Handler } from './request';

/** Sampling period of the histogram (ms): fine enough to see a 1 ms stall. */
const RESOLUTION_MS = 5;

export interface LoopStats {
  /** How late the event loop ran a 5 ms timer: percentiles, mean and maximum, in microseconds. */
  p50: number;
  p99: number;
  max: number;
  mean: number;
  /** Samples taken. */
  n: number;
  /** Milliseconds since the histogram started or was last reset. */
  ms: number;
}

export function loopStatsHandler(): Handler {
  let h: IntervalHistogram | undefined;
  let since = 0;
  return async (req) => {
    if (!('pinentry' in req.packet)) throw new Error('LOOP_STATS handler got another command');
    const q = req.packet.pinentry;
    q.pin.fill(0);
    if (!h) {
      h = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
      h.enable();
      since = Date.now();
    }
    // The histogram holds whole timer periods; lateness is what exceeds one.
    const us = (ns: number) => Math.max(0, Math.round((ns - RESOLUTION_MS * 1e6) / 1000));
    const stats: LoopStats = {
      p50: us(h.percentile(50)),
      p99: us(h.percentile(99)),
      max: us(h.max),
      mean: us(Number.isFinite(h.mean) ? h.mean : 0),
      n: h.count,
      ms: Date.now() - since,
    };
    if (q.flags & 1) {
      h.reset();
      since = Date.now();
    }
    return {
      packet: { reqid: req.packet.reqid, cbid: 0, cmd: LocalCmd.LOOP_STATS, pinentry: { ...q, pin: new Uint8Array(0), flags: 0, prompt: JSON.stringify(stats) } },
    };
  };
}

