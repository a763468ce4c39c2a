/** How values look on screen; one place, so the table, details and export agree. */
import type { ConnectionRecord } from '../../src/model/connection';
import { requesterName } from '../../src/model/command';

export function basename(path: string | undefined): string {
  if (!path) return '';
  const i = path.lastIndexOf('/');
  return i < 0 ? path : path.slice(i + 1);
}

/** "tlspool tunnel --server :8443 (4711)", "curl (4711)" when only the executable is known, or "pid 4711". */
export function application(r: { readonly requester: { readonly pid: number; readonly executable?: string; readonly command?: readonly string[] } }): string {
  return requesterName(r.requester);
}

/** Why a row ended as it did, in the list: the error of a failed one, how a closed one ended. */
export function outcome(r: ConnectionRecord): string {
  if (r.damaged) return r.endReason ?? '';
  if (r.error) return r.error.message || r.error.errno;
  return r.endReason ?? '';
}

// One formatter, made once: toLocaleTimeString builds a new one per call, which shows up when scrolling.
const CLOCK = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });

export function clockTime(iso: string | undefined): string {
  if (!iso) return '';
  const t = Date.parse(iso);
  return Number.isNaN(t) ? iso : CLOCK.format(t);
}

const pad = (n: number) => String(n).padStart(2, '0');

/** "2025-12-03 17:42:05" in local time: the same in every locale, and sortable. */
export function dateTime(iso: string | undefined | null): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}

/** "0.4 s", "12 s", "3 m 04 s", "2 h 05 m". */
export function duration(ms: number): string {
  if (ms < 0 || !Number.isFinite(ms)) return '';
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} m ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} m`;
}

/** From start to end, or to `now` while it lasts. */
export function connectionDuration(r: ConnectionRecord, now: number): string {
  const start = Date.parse(r.startedAt);
  const end = r.endedAt ? Date.parse(r.endedAt) : now;
  return duration(end - start);
}

/** "1:05" until a deadline; "0:00" once past. */
export function countdown(msLeft: number): string {
  const s = Math.max(0, Math.ceil(msLeft / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}
