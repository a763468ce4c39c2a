/** What runs: the daemon's version, its sockets and files, who is registered with it. */
import type { DaemonView } from '../../../src/contract/desktop';
import { basename, dateTime } from '../format';

export function About(props: { daemon: DaemonView | null }) {
  const d = props.daemon;
  const s = d?.status;
  const rows: Array<[string, string | number | undefined]> = s
    ? [
        ['Version', s.version],
        ['Mode', d!.mode === 'hosted' ? 'hosted by this app' : 'attached to a running daemon'],
        ['Process', `pid ${s.pid}, uid ${s.uid}`],
        ['Started', dateTime(s.startedAt)],
        ['Pool socket', s.socket],
        ['Control socket', s.controlSocket],
        ['State directory', s.stateDir],
        ['Configuration file', s.configFile ?? '(none: defaults)'],
        ['Live connections', s.connections.live],
        ['Unlocked tokens', s.unlockedTokens],
        [
          'PIN entry',
          s.pinEntry.length
            ? s.pinEntry.map((p) => `${basename(p.executable) || 'pid'} (${p.pid})${p.shared ? ', shared' : ''}`).join('; ')
            : 'none registered',
        ],
        ['Approval agent', s.approvalAgent ? `${basename(s.approvalAgent.executable) || 'pid'} (${s.approvalAgent.pid})` : 'none registered'],
        ['Pending approvals', s.pendingApprovals],
      ]
    : [];
  return (
    <section className="page" aria-labelledby="about-h">
      <h1 id="about-h">About</h1>
      <p>TLS Pool: a local daemon that does TLS, certificates, PKCS #11 keys and PIN entry for applications.</p>
      {s ? (
        <dl className="facts about">
          {rows.map(([k, v]) => (
            <div key={k}>
              <dt>{k}</dt>
              <dd className={k.includes('socket') || k.includes('directory') || k.includes('file') ? 'mono' : ''}>{v}</dd>
            </div>
          ))}
        </dl>
      ) : (
        <p className="muted">The daemon is down{d ? `: ${d.message}` : ''}.</p>
      )}
    </section>
  );
}
