/** Local identities: which one is the default, and removing one (after a second click); the pool's own trust anchors. */
import type { IdentityInfo, TrustAnchorInfo } from '../../../src/model/identity';
import { ConfirmButton } from '../components/ConfirmButton';
import { useStore } from '../state/context';
import { dateTime } from '../format';

export function Identities(props: { identities: readonly IdentityInfo[]; trust: readonly TrustAnchorInfo[] }) {
  const store = useStore();
  return (
    <section className="page" aria-labelledby="identities-h">
      <h1 id="identities-h">Identities</h1>
      {props.identities.length === 0 ? (
        <p className="muted">No identities. Add one with <code>tlspool identity add</code> or <code>tlspool identity generate</code>.</p>
      ) : (
        <table aria-label="Identities">
          <thead>
            <tr>
              <th scope="col">Identity</th>
              <th scope="col">Subject</th>
              <th scope="col">Issuer</th>
              <th scope="col">Expires</th>
              <th scope="col">Key</th>
              <th scope="col"><span className="sr-only">Actions</span></th>
            </tr>
          </thead>
          <tbody>
            {props.identities.map((id) => (
              <tr key={id.localid}>
                <th scope="row">
                  {id.localid} {id.isDefault && <span className="badge default">default</span>}
                </th>
                <td>{id.subject}</td>
                <td>{id.issuer}</td>
                <td className="date">{dateTime(id.notAfter)}</td>
                <td className="mono ellipsis" title={id.keyRef}>{id.keyRef}</td>
                <td className="actions">
                  <button
                    type="button"
                    disabled={id.isDefault}
                    aria-label={`Set ${id.localid} as default`}
                    onClick={() => void store.run('Setting the default identity', () => store.api.setDefaultIdentity({ localid: id.localid }))}
                  >
                    Set default
                  </button>
                  <ConfirmButton
                    label="Remove"
                    question={`Remove ${id.localid}?`}
                    confirmLabel="Confirm remove"
                    onConfirm={() => void store.run('Removing the identity', () => store.api.removeIdentity({ localid: id.localid }))}
                  />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h2 id="trust-h">Trusted certificate authorities</h2>
      {props.trust.length === 0 ? (
        <p className="muted">
          None of the pool's own (the system store may still apply). Add one with <code>tlspool trust add FILE</code>.
        </p>
      ) : (
        <table aria-labelledby="trust-h">
          <thead>
            <tr>
              <th scope="col">Subject</th>
              <th scope="col">Expires</th>
              <th scope="col">Added</th>
              <th scope="col">SHA-256</th>
            </tr>
          </thead>
          <tbody>
            {props.trust.map((a) => (
              <tr key={a.sha256}>
                <th scope="row">{a.subject}</th>
                <td className="date">{dateTime(a.notAfter)}</td>
                <td className="date">{dateTime(a.addedAt)}</td>
                <td className="mono ellipsis" title={a.sha256}>{a.sha256}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
