/**
 * Live activity above the connection list, in plain SVG: connections per
 * second by outcome (stacked bars: established, failed) and bytes per
 * second (a line on its own scale), over the last WINDOW_S seconds.
 */
import type { Activity } from '../state/activity';
import { BUCKET_S, WINDOW_S } from '../state/activity';
import { bytes } from '../format';

const W = 600;
const H = 80;
const PAD = 2;

/** 1, 2, 5, 10, 20, 50, …: the smallest at least `v`, so the scale reads well. */
function niceCeil(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function rate(v: number): string {
  return v >= 10 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v.toFixed(2);
}

export function ActivityChart(props: { activity: Activity }) {
  const { buckets, totals } = props.activity;
  const n = buckets.length;
  const bw = W / n;
  const maxConn = niceCeil(Math.max(...buckets.map((b) => b.established + b.failed)));
  const maxBytes = niceCeil(Math.max(...buckets.map((b) => b.bytes)));
  const y = (v: number, max: number) => H - PAD - (v / max) * (H - 2 * PAD);
  const line = buckets.map((b, i) => `${i === 0 ? 'M' : 'L'}${(i + 0.5) * bw},${y(b.bytes, maxBytes).toFixed(1)}`).join(' ');
  const minutes = WINDOW_S / 60;
  const summary =
    `Last ${minutes} minutes: ${totals.established} established, ${totals.failed} failed, ${bytes(totals.bytes)} transferred`;
  return (
    <figure className="activity" aria-label="Activity">
      <svg viewBox={`0 0 ${W} ${H}`} preserveAspectRatio="none" role="img" aria-label={summary} className="activity-chart">
        <line x1="0" y1={H - PAD} x2={W} y2={H - PAD} className="axis" />
        {buckets.map((b, i) => {
          const x = i * bw + 0.5;
          const w = Math.max(1, bw - 1);
          const hEst = ((b.established) / maxConn) * (H - 2 * PAD);
          const hFail = (b.failed / maxConn) * (H - 2 * PAD);
          const t = new Date(b.start).toISOString().slice(11, 19);
          return (
            <g key={i}>
              {b.established > 0 && (
                <rect x={x} y={H - PAD - hEst} width={w} height={hEst} className="bar established" data-outcome="established" data-rate={b.established}>
                  <title>{`${t}: ${rate(b.established)} established/s`}</title>
                </rect>
              )}
              {b.failed > 0 && (
                <rect x={x} y={H - PAD - hEst - hFail} width={w} height={hFail} className="bar failed" data-outcome="failed" data-rate={b.failed}>
                  <title>{`${t}: ${rate(b.failed)} failed/s`}</title>
                </rect>
              )}
            </g>
          );
        })}
        {totals.bytes > 0 && <path d={line} className="bytes-line" data-series="bytes" />}
      </svg>
      <figcaption>
        <span className="legend established">■ established</span> <span className="legend failed">■ failed</span>{' '}
        <span className="legend bytes">— bytes</span>
        <span className="scale">
          {' '}
          · per {BUCKET_S} s bucket, up to {rate(maxConn)} connections/s and {bytes(maxBytes)}/s
        </span>
        <span className="activity-summary">{summary}</span>
      </figcaption>
    </figure>
  );
}
