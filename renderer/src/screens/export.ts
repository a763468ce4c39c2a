/** The connection log out of the browser: CSV for spreadsheets, JSON as the records are. */
import type { ConnectionRecord } from '../../../src/model/connection';

const CSV_COLUMNS: ReadonlyArray<[string, (r: ConnectionRecord) => string | number | undefined]> = [
  ['id', (r) => r.id],
  ['started_at', (r) => r.startedAt],
  ['established_at', (r) => r.establishedAt],
  ['ended_at', (r) => r.endedAt],
  ['pid', (r) => r.requester.pid],
  ['uid', (r) => r.requester.uid],
  ['executable', (r) => r.requester.executable],
  ['command', (r) => r.requester.command?.join(' ')],
  ['peer', (r) => r.peer],
  ['role', (r) => r.role],
  ['transport', (r) => r.transport],
  ['localid', (r) => r.localid],
  ['remoteid', (r) => r.remoteid],
  ['sni', (r) => r.sni],
  ['version', (r) => r.version],
  ['cipher', (r) => r.cipher],
  ['state', (r) => r.state],
  ['bytes_in', (r) => r.bytesIn],
  ['bytes_out', (r) => r.bytesOut],
  ['end_reason', (r) => r.endReason],
  ['error', (r) => (r.error ? `${r.error.errno}: ${r.error.message}` : undefined)],
];

/** RFC 4180 quoting; a leading = + - @ is defused so a spreadsheet does not run it as a formula. */
function cell(v: string | number | undefined): string {
  if (v === undefined) return '';
  let s = String(v);
  if (typeof v === 'string' && /^[=+\-@]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv(rows: readonly ConnectionRecord[]): string {
  const lines = [CSV_COLUMNS.map(([name]) => name).join(',')];
  for (const r of rows) lines.push(CSV_COLUMNS.map(([, get]) => cell(get(r))).join(','));
  return lines.join('\r\n') + '\r\n';
}

export function toJson(rows: readonly ConnectionRecord[]): string {
  return JSON.stringify(rows, null, 2) + '\n';
}

export function download(name: string, type: string, text: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  // The click has started the download; the URL is not needed after this turn.
  setTimeout(() => URL.revokeObjectURL(url), 0);
}

export function exportName(ext: string): string {
  return `tlspool-connections-${new Date().toISOString().replace(/[:.]/g, '-')}.${ext}`;
}
