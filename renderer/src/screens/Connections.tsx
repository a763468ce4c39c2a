/** The live connection log: filter, a virtualised grid, details for the selected row, export. */
import { useEffect, useMemo, useState } from 'react';
import type { ConnectionRecord, ConnectionState } from '../../../src/model/connection';
import { useStore } from '../state/context';
import type { ViewState } from '../state/reducer';
import { application, bytes, clockTime, connectionDuration, outcome } from '../format';
import { ConnectionDetails } from './ConnectionDetails';
import { ActivityChart } from './ActivityChart';
import { activity } from '../state/activity';
import { download, exportName, toCsv, toJson } from './export';
import { VirtualGrid, type Column } from './VirtualGrid';

const STATES: ReadonlyArray<ConnectionState> = ['handshaking', 'established', 'closed', 'failed'];
const OLDER_PAGE = 1000;

function matches(r: ConnectionRecord, needle: string): boolean {
  const hay = [application(r), r.requester.executable, r.peer, outcome(r), r.localid, r.remoteid, r.sni, r.version, r.cipher, r.role, r.state, r.endReason, r.error?.errno];
  for (const h of hay) if (h && h.toLowerCase().includes(needle)) return true;
  return false;
}

export function Connections(props: { state: ViewState }) {
  const store = useStore();
  const table = props.state.connections;
  const version = props.state.connectionsVersion;
  const [text, setText] = useState('');
  const [stateFilter, setStateFilter] = useState<'' | ConnectionState>('');
  const [selected, setSelected] = useState<number | null>(null);
  const [now, setNow] = useState(() => Date.now());
  const [loadingOlder, setLoadingOlder] = useState(false);

  // Durations of live rows grow; only the rows in view are redrawn.
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);

  const needle = text.trim().toLowerCase();
  // Unfiltered, the table itself is the view (no copy of 100,000 rows per event).
  const filtered = useMemo(
    () =>
      needle || stateFilter
        ? table.filter((r) => (!stateFilter || r.state === stateFilter) && (!needle || matches(r, needle)))
        : null,
    // `version` stands for the table's content, which changes in place.
    [table, version, needle, stateFilter],
  );
  const count = filtered ? filtered.length : table.size;
  const rowAt = filtered ? (i: number) => filtered[i] : (i: number) => table.at(i);
  const rowsNow = (): ConnectionRecord[] => filtered ?? table.filter(() => true);

  // State first after the time, and why a row ended next to it: they stay in view when the details panel narrows the list.
  const columns: Column<ConnectionRecord>[] = [
    { key: 'time', title: 'Time', render: (r) => clockTime(r.startedAt), className: 'num' },
    { key: 'state', title: 'State', render: (r) => <span className={`badge state-${r.state}`}>{r.state}</span> },
    { key: 'outcome', title: 'Reason', render: (r) => <span title={outcome(r)}>{outcome(r)}</span>, className: 'reason' },
    { key: 'app', title: 'Application', render: (r) => <span title={r.requester.command?.join(' ') ?? r.requester.executable}>{application(r)}</span> },
    { key: 'peer', title: 'Peer address', render: (r) => r.peer ?? '', className: 'mono' },
    { key: 'remote', title: 'Remote id', render: (r) => r.remoteid },
    { key: 'local', title: 'Local id', render: (r) => r.localid },
    { key: 'role', title: 'Role', render: (r) => r.role },
    { key: 'version', title: 'TLS version', render: (r) => r.version ?? '' },
    { key: 'cipher', title: 'Cipher', render: (r) => r.cipher ?? '' },
    { key: 'bytes', title: 'Bytes in / out', render: (r) => `${bytes(r.bytesIn)} / ${bytes(r.bytesOut)}`, className: 'num' },
    { key: 'duration', title: 'Duration', render: (r) => connectionDuration(r, now), className: 'num' },
  ];

  const loadOlder = async () => {
    setLoadingOlder(true);
    const rows = await store.run('Loading older connections', () =>
      store.api.connections({ beforeId: table.oldestId(), limit: OLDER_PAGE }),
    );
    setLoadingOlder(false);
    if (rows) store.addRows(rows);
    if (rows && rows.length === 0) store.notice('info', 'No older connections');
  };

  // Redrawn every second with the clock, and when the rows change.
  const chart = useMemo(() => activity(table.size, (i) => table.at(i), now), [table, version, now]);

  const record = selected === null ? undefined : table.get(selected);
  return (
    <section className="connections" aria-label="Connections">
      <div className="toolbar">
        <input
          type="search"
          aria-label="Filter"
          placeholder="Filter: application, identity, cipher…"
          value={text}
          onChange={(e) => setText(e.currentTarget.value)}
        />
        <label className="inline">
          State
          <select value={stateFilter} onChange={(e) => setStateFilter(e.currentTarget.value as '' | ConnectionState)}>
            <option value="">All</option>
            {STATES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <span className="count" aria-live="polite">
          {filtered ? `${count.toLocaleString()} of ${table.size.toLocaleString()}` : `${count.toLocaleString()} ${count === 1 ? 'connection' : 'connections'}`}
        </span>
        <span className="spacer" />
        <button type="button" onClick={() => void loadOlder()} disabled={loadingOlder || table.size === 0}>
          Load older
        </button>
        <button type="button" onClick={() => download(exportName('csv'), 'text/csv', toCsv(rowsNow()))} disabled={count === 0}>
          Export CSV
        </button>
        <button
          type="button"
          onClick={() => download(exportName('json'), 'application/json', toJson(rowsNow()))}
          disabled={count === 0}
        >
          Export JSON
        </button>
      </div>
      <ActivityChart activity={chart} />
      <div className={`connections-body${record ? ' with-details' : ''}`}>
        <VirtualGrid
          label="Connections"
          columns={columns}
          count={count}
          rowAt={rowAt}
          rowKey={(r) => r.id}
          selectedKey={selected}
          onSelect={(r) => setSelected(r.id)}
          rowClass={(r) => `state-${r.state}`}
          empty={table.size === 0 ? <EmptyLog /> : 'No connection matches the filter.'}
        />
        {record && <ConnectionDetails record={record} now={now} onClose={() => setSelected(null)} />}
      </div>
    </section>
  );
}

/** What to do to see a first connection here. */
function EmptyLog() {
  return (
    <div className="empty-log">
      <p>No connections yet. An application that hands its sockets to the pool shows up here, for example a tunnel:</p>
      <pre>
        <code>tlspool tunnel --server --listen 127.0.0.1:8443 --connect 127.0.0.1:8080 --local-id example.org</code>
      </pre>
      <p>
        then <code>curl -k https://127.0.0.1:8443/</code>. The identity must exist first (<code>tlspool identity add</code>).
      </p>
    </div>
  );
}
