/** The selected connection: every field of its record, and the peer's chain as the daemon saw it. */
import { useEffect, useState } from 'react';
import type { ConnectionDetails as Details, ConnectionRecord } from '../../../src/model/connection';
import { useStore } from '../state/context';
import { messageOf } from '../state/store';
import { application, bytes, connectionDuration, dateTime } from '../format';

export function ConnectionDetails(props: { record: ConnectionRecord; now: number; onClose: () => void }) {
  const store = useStore();
  const r = props.record;
  const [details, setDetails] = useState<Details | null>(null);
  const [error, setError] = useState<string | null>(null);

  // Fetch again when the state changes: the chain arrives with the handshake.
  useEffect(() => {
    let live = true;
    setError(null);
    store.api.connectionDetails({ id: r.id }).then(
      (d) => live && setDetails(d),
      (e: unknown) => live && setError(messageOf(e)),
    );
    return () => {
      live = false;
    };
  }, [store, r.id, r.state]);

  const fields: Array<[string, string | number | undefined]> = [
    ['Id', r.id],
    ['Application', application(r)],
    ['Command line', r.requester.command?.join(' ')],
    ['Executable', r.requester.executable],
    ['User / group', `${r.requester.uid} / ${r.requester.gid}`],
    ['Role', r.role],
    ['Transport', r.transport.toUpperCase()],
    ['State', r.state],
    ['Local identity', r.localid],
    ['Remote identity', r.remoteid],
    ['Peer address', r.peer],
    ['Server name (SNI)', r.sni],
    ['TLS version', r.version],
    ['Cipher', r.cipher],
    ['Started', dateTime(r.startedAt)],
    ['Established', dateTime(r.establishedAt)],
    ['Ended', dateTime(r.endedAt)],
    ['Duration', connectionDuration(r, props.now)],
    ['Bytes in', `${bytes(r.bytesIn)} (${r.bytesIn})`],
    ['Bytes out', `${bytes(r.bytesOut)} (${r.bytesOut})`],
    ['End reason', r.endReason],
    ['Error', r.error ? `${r.error.errno}: ${r.error.message}` : undefined],
  ];

  const chain = details?.connection.id === r.id ? details.chain : null;
  return (
    <aside className="details" aria-label="Connection details">
      <header>
        <h2>Connection {r.id}</h2>
        <button type="button" className="quiet" onClick={props.onClose}>
          Close details
        </button>
      </header>
      <dl className="facts">
        {fields
          .filter(([, v]) => v !== undefined && v !== '')
          .map(([k, v]) => (
            <div key={k}>
              <dt>{k}</dt>
              <dd>{v}</dd>
            </div>
          ))}
      </dl>
      <h3>Certificate chain</h3>
      {error && <p className="warning">Could not load the chain: {error}</p>}
      {!error && !chain && <p className="muted">Loading…</p>}
      {chain && chain.length === 0 && <p className="muted">{noChain(r)}</p>}
      {chain && (
        <ol className="chain">
          {chain.map((c, i) => (
            <li key={c.sha256 + i}>
              <details open={i === 0}>
                <summary>
                  <span className="chain-pos">{i === 0 ? 'Leaf' : `Issuer ${i}`}</span> {c.subject}
                </summary>
                <dl className="facts">
                  <div><dt>Subject</dt><dd>{c.subject}</dd></div>
                  <div><dt>Issuer</dt><dd>{c.issuer}</dd></div>
                  {c.altNames.length > 0 && <div><dt>Alt names</dt><dd>{c.altNames.join(', ')}</dd></div>}
                  <div><dt>Serial</dt><dd className="mono">{c.serial}</dd></div>
                  <div><dt>Valid</dt><dd>{dateTime(c.notBefore)} — {dateTime(c.notAfter)}</dd></div>
                  <div><dt>SHA-256</dt><dd className="mono wrap">{c.sha256}</dd></div>
                </dl>
              </details>
            </li>
          ))}
        </ol>
      )}
    </aside>
  );
}

/** Why there is no chain to show: what happened, not a guess that the peer sent none. */
function noChain(r: ConnectionRecord): string {
  if (r.state === 'handshaking') return 'None yet: the handshake is under way.';
  if (r.state === 'failed') {
    const why = r.error ? ` (${r.error.errno}: ${r.error.message})` : '';
    return `None: the handshake ended before a certificate was checked${why}.`;
  }
  return 'The peer sent no certificate (allowed for this connection).';
}
