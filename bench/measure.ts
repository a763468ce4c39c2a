/**
 * What the bench measures on one system: idle memory per connection,
 * sequential latency, parallel handshakes, bulk throughput, and the
 * event-loop delay of the side that has one (the daemon; Node's own loop).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import type * as net from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { rssKb } from '../harness/traffic';
import type { System } from './systems';
import { closeConn, Counter, header, log, pump, sleep, withTimeout } from './work';

export const MiB = 1024 * 1024;
/** Pause after closing the idle connections, before the next phase. */
const SETTLE_MS = 2000;

export interface Params {
  handshakes: number;
  parallel: number;
  latency: number;
  bulkOne: number;
  bulkBoth: number;
  idle: number[];
  speedSeconds: number;
  /** Per-phase time limits (ms). */
  openLimit: number;
  phaseLimit: number;
}

/** Clock ticks per second of /proc/<pid>/stat's CPU times. */
const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU seconds (user + system, all threads) the processes used so far. */
export function cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    // Fields after the command name (which may hold spaces): utime is the 12th, stime the 13th.
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    ticks += Number(f[11]) + Number(f[12]);
  }
  return ticks / CLK_TCK;
}


export function pct(xs: number[], p: number): number {
  const a = [...xs].sort((x, y) => x - y);
  return a.length ? a[Math.min(a.length - 1, Math.floor((p / 100) * a.length))]! : NaN;
}

const gc = (globalThis as { gc?: () => void }).gc;

/** An application connection in echo mode with one round trip done. */
export async function echoConn(sys: System, P: Params): Promise<{ s: net.Socket; openMs: number; handshakeMs?: number }> {
  const t0 = performance.now();
  const { s, handshakeMs } = await withTimeout(sys.open(), P.openLimit, `${sys.name} open`);
  const c = new Counter(s);
  s.write(Buffer.concat([header('E', 0), Buffer.from('x')]));
  await c.until(1, P.openLimit);
  return { s, openMs: performance.now() - t0, handshakeMs };
}

export async function idleRss(sys: System, P: Params): Promise<Record<number, number | string>> {
  const out: Record<number, number | string> = {};
  const held: net.Socket[] = [];
  try {
    for (let i = 0; i < 5; i++) await closeConn((await echoConn(sys, P)).s); // warm up
    gc?.();
    await sleep(300);
    const before = sys.pids().reduce((a, p) => a + rssKb(p), 0);
    const deadline = Date.now() + P.phaseLimit * 2;
    for (const target of P.idle) {
      try {
        while (held.length < target) {
          if (Date.now() > deadline) throw new Error(`time limit with ${held.length} connections`);
          const batch = Math.min(32, target - held.length);
          const conns = await Promise.all(Array.from({ length: batch }, () => echoConn(sys, P)));
          for (const c of conns) held.push(c.s);
        }
        gc?.();
        await sleep(500);
        const after = sys.pids().reduce((a, p) => a + rssKb(p), 0);
        out[target] = Math.round(((after - before) / target) * 100) / 100;
        log(`${sys.name}: ${target} idle connections, RSS ${before} -> ${after} KiB`);
      } catch (e) {
        // What the connections that did open cost, for the record.
        let each = '';
        try {
          await sleep(500);
          const at = sys.pids().reduce((a, p) => a + rssKb(p), 0);
          if (held.length) each = ` (${Math.round(((at - before) / held.length) * 10) / 10} KiB each at that point)`;
        } catch {
          // a process that is gone has no RSS to report
        }
        out[target] = `failed at ${held.length}${each}: ${(e as Error).message}`;
        log(`${sys.name}: idle ${target}: ${out[target]}`);
        break;
      }
    }
  } finally {
    await Promise.all(held.map(closeConn));
    // Let the TLS side finish with them: closing a thousand connections at
    // once keeps the daemon busy for a few hundred ms, which the next phase
    // (sequential latency) would otherwise measure in its first samples.
    await sleep(SETTLE_MS);
  }
  return out;
}

export interface Latency {
  p50: number;
  p99: number;
  /** pool: STARTTLS request to response; node_tls: TCP connected to secureConnect. */
  handshake_p50?: number;
  handshake_p99?: number;
}

export async function latency(sys: System, P: Params): Promise<Latency> {
  const open: number[] = [];
  const hs: number[] = [];
  const deadline = Date.now() + P.phaseLimit;
  for (let i = 0; i < P.latency && Date.now() < deadline; i++) {
    const c = await echoConn(sys, P);
    open.push(c.openMs);
    if (c.handshakeMs !== undefined) hs.push(c.handshakeMs);
    await closeConn(c.s);
  }
  const r: Latency = { p50: pct(open, 50), p99: pct(open, 99) };
  if (hs.length) Object.assign(r, { handshake_p50: pct(hs, 50), handshake_p99: pct(hs, 99) });
  return r;
}

export interface LoopDelay {
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
}

/**
 * Runs `work` while watching the event loop that serves this system's TLS:
 * the daemon's (LOCAL LOOP_STATS) for the pool, this process's for Node.
 * stunnel has none (null).
 */
export async function withLoopDelay<T>(sys: System, work: () => Promise<T>): Promise<{ result: T; delay: LoopDelay | null }> {
  if (sys.poolClient) {
    await sys.poolClient.loopStats(true);
    const result = await work();
    const s = await sys.poolClient.loopStats(true);
    return { result, delay: { p50_ms: s.p50 / 1000, p99_ms: s.p99 / 1000, max_ms: s.max / 1000 } };
  }
  if (sys.name === 'node_tls') {
    const resolutionMs = 5;
    const h = monitorEventLoopDelay({ resolution: resolutionMs });
    h.enable();
    try {
      const result = await work();
      // Whole timer periods are recorded; the delay is what exceeds one.
      const late = (ns: number) => Math.max(0, ns / 1e6 - resolutionMs);
      return { result, delay: { p50_ms: late(h.percentile(50)), p99_ms: late(h.percentile(99)), max_ms: late(h.max) } };
    } finally {
      h.disable();
    }
  }
  return { result: await work(), delay: null };
}

/** A count of work done in a time: handshakes, or MiB of payload. */
export interface Rate {
  amount: number;
  secs: number;
}

/** CPU seconds spent meanwhile: by the TLS side's processes, and by the bench process (application and backend). */
export interface CpuUse {
  tls: number;
  bench: number;
}

/** Run `work`, counting the CPU time it cost on both sides. */
export async function withCpu<T>(sys: System, work: () => Promise<T>): Promise<{ result: T; cpu: CpuUse }> {
  const tls0 = cpuSeconds(sys.pids());
  const bench0 = process.cpuUsage();
  const result = await work();
  const bench = process.cpuUsage(bench0);
  return { result, cpu: { tls: cpuSeconds(sys.pids()) - tls0, bench: (bench.user + bench.system) / 1e6 } };
}

/** `count` connections, P.parallel at a time, each: open, one round trip, close. */
export async function handshakes(sys: System, P: Params, count: number): Promise<Rate> {
  let next = 0;
  let done = 0;
  const deadline = Date.now() + P.phaseLimit;
  const t0 = performance.now();
  const worker = async () => {
    while (next < count && Date.now() < deadline) {
      next++;
      const c = await echoConn(sys, P);
      await closeConn(c.s);
      done++;
    }
  };
  await Promise.all(Array.from({ length: P.parallel }, worker));
  return { amount: done, secs: (performance.now() - t0) / 1000 };
}

/** MiB of payload over one connection; `both`: both directions at once, counted as 2n bytes. */
export async function bulk(sys: System, P: Params, n: number, both: boolean): Promise<Rate> {
  const { s } = await withTimeout(sys.open(), P.openLimit, `${sys.name} open`);
  try {
    const c = new Counter(s);
    const t0 = performance.now();
    s.write(header(both ? 'D' : 'U', n));
    await withTimeout(pump(s, n), P.phaseLimit, 'sending');
    await c.until(both ? n + 1 : 1, P.phaseLimit);
    return { amount: ((both ? 2 : 1) * n) / MiB, secs: (performance.now() - t0) / 1000 };
  } finally {
    await closeConn(s);
  }
}
