import { loadConfig } from '../../config';
import { openDb } from '../../store/db';
import { MAX_PAGE_ROWS } from '../../model/connection';
import { ConnectionRows } from '../../store/connection-log';
import type { ConnectionRecord } from '../../model/connection';
import { requesterName } from '../../model/command';
import { badValue, type CommandSpec, helpText, parse } from '../args';

export const spec = {
  name: 'connections',
  usage: 'connections [--limit N] [--json] [--state-dir DIR] [--config FILE]',
  summary: 'List recent STARTTLS connections from the connection log, newest first.',
  options: { limit: { type: 'string', short: 'n' }, json: { type: 'boolean' }, 'state-dir': { type: 'string' }, config: { type: 'string' } },
  help: {
    limit: 'how many to show (default 20)',
    json: 'print the full records as JSON, peer certificates included',
    'state-dir': 'state directory (default: $TLSPOOL_STATE_DIR, the config file, then ~/.local/state/tlspool or /var/lib/tlspool)',
    config: 'configuration file (default: $TLSPOOL_CONFIG, then the per-user or system file)',
  },
} satisfies CommandSpec<{ limit: { type: 'string'; short: 'n' }; json: { type: 'boolean' }; 'state-dir': { type: 'string' }; config: { type: 'string' } }>;

function bytes(n: number): string {
  return n < 1024 ? `${n} B` : n < 1 << 20 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / (1 << 20)).toFixed(1)} MiB`;
}

/** Records as the elements of JSON.stringify(all, null, 2) would be, so the pages make one array. */
function jsonItems(records: ConnectionRecord[], first: boolean): string {
  const items = records.map((r) => JSON.stringify(r, null, 2).replace(/^/gm, '  '));
  return (first ? '[\n' : ',\n') + items.join(',\n');
}

function line(r: ConnectionRecord): string {
  const app = r.requester.command?.length || r.requester.executable ? requesterName(r.requester) : `?(${r.requester.pid})`;
  const ids = `${r.localid || '-'} -> ${r.remoteid || '-'}${r.peer ? ` (${r.peer})` : ''}`;
  const tls = (r.version ? `${r.version} ${r.cipher}` : '') + (r.validation ? ` (${r.validation})` : '') + (r.external ? ` external: ${r.external}` : '') + (r.warning ? ` warning: ${r.warning}` : '');
  const end = r.damaged ? `damaged log row: ${r.damaged}` : r.error ? `${r.error.errno}: ${r.error.message}` : (r.endReason ?? r.state);
  return `#${r.id} ${r.startedAt.replace('T', ' ').slice(0, 19)} ${r.role} ${app} ${ids} ${tls} in ${bytes(r.bytesIn)} out ${bytes(r.bytesOut)} [${r.state}] ${end}\n`;
}

export async function connections(argv: string[]): Promise<number> {
  const args = parse(spec, argv);
  if (!args) {
    process.stdout.write(helpText(spec));
    return 0;
  }
  const limit = Number(args.values.limit ?? 20);
  if (!Number.isInteger(limit) || limit < 1) throw badValue('connections', `--limit must be a positive integer, got "${args.values.limit}"`);
  const config = loadConfig({ flags: { state_dir: args.values['state-dir'], config: args.values.config }, env: process.env });
  const db = openDb(config.state_dir);
  // A page at a time, each written as it is read: the log may hold 100,000.
  const rows = new ConnectionRows(db, (id, why) => process.stderr.write(`tlspool connections: row ${id} of the connection log is damaged (${why}); shown as damaged\n`));
  let shown = 0;
  try {
    let before = Number.MAX_SAFE_INTEGER;
    while (shown < limit) {
      const page = rows.read(before, Math.min(MAX_PAGE_ROWS, limit - shown));
      const records = page.rows.map((r) => r.record);
      if (records.length > 0) process.stdout.write(args.values.json ? jsonItems(records, shown === 0) : records.map(line).join(''));
      shown += records.length;
      if (!page.more || records.length === 0) break;
      before = records[records.length - 1]!.id;
    }
  } finally {
    db.close();
  }
  if (args.values.json) process.stdout.write(shown === 0 ? '[]\n' : '\n]\n');
  else if (shown === 0) process.stdout.write('no connections logged yet\n');
  return 0;
}
