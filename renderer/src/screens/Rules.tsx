/** Remembered disclosure choices ("show X to Y"), and revoking one. */
import type { DisclosureRule } from '../../../src/model/disclosure';
import { ConfirmButton } from '../components/ConfirmButton';
import { useStore } from '../state/context';
import { dateTime } from '../format';

export function Rules(props: { rules: readonly DisclosureRule[] }) {
  const store = useStore();
  return (
    <section className="page" aria-labelledby="rules-h">
      <h1 id="rules-h">Rules</h1>
      {props.rules.length === 0 ? (
        <p className="muted">No remembered choices. Choosing “Until restart” or “Forever” in an approval adds one.</p>
      ) : (
        <table aria-label="Rules">
          <thead>
            <tr>
              <th scope="col">Remote</th>
              <th scope="col">Local identity</th>
              <th scope="col">Decision</th>
              <th scope="col">Kept</th>
              <th scope="col">Created</th>
              <th scope="col"><span className="sr-only">Actions</span></th>
            </tr>
          </thead>
          <tbody>
            {props.rules.map((r) => (
              <tr key={r.id}>
                <th scope="row">{r.remote}</th>
                <td>{r.localid}</td>
                <td>
                  <span className={`badge ${r.decision}`}>{r.decision}</span>
                </td>
                <td className="nowrap">{r.lifetime === 'forever' ? 'forever' : 'until restart'}</td>
                <td className="date">{dateTime(r.createdAt)}</td>
                <td className="actions">
                  <ConfirmButton
                    label="Revoke"
                    question={`Revoke ${r.decision} ${r.localid} to ${r.remote}?`}
                    confirmLabel="Confirm revoke"
                    onConfirm={() => void store.run('Revoking the rule', () => store.api.revokeRule({ id: r.id }))}
                  />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
