/** PKCS #11 tokens the pool knows, and locking them (the pool forgets the PIN and logs out). */
import type { TokenInfo } from '../../../src/model/tokens';
import { useStore } from '../state/context';

export function Tokens(props: { tokens: readonly TokenInfo[] }) {
  const store = useStore();
  const lock = async (label?: string) => {
    const r = await store.run('Locking', () => store.api.lockTokens(label === undefined ? {} : { label }));
    if (r) store.notice('info', r.locked === 1 ? 'Locked 1 token' : `Locked ${r.locked} tokens`);
  };
  const unlocked = props.tokens.filter((t) => t.unlocked).length;
  return (
    <section className="page" aria-labelledby="tokens-h">
      <div className="page-head">
        <h1 id="tokens-h">Tokens</h1>
        <button type="button" onClick={() => void lock()} disabled={unlocked === 0}>
          Lock all
        </button>
      </div>
      {props.tokens.length === 0 ? (
        <p className="muted">
          No tokens found through the configured PKCS #11 modules. Name a module with <code>pkcs11.modules</code> in the
          configuration (or <code>tlspool daemon --pkcs11-module PATH</code>), and see what it offers with{' '}
          <code>tlspool tokens</code>.
        </p>
      ) : (
        <table aria-label="Tokens">
          <thead>
            <tr>
              <th scope="col">Label</th>
              <th scope="col">Manufacturer</th>
              <th scope="col">Model</th>
              <th scope="col">Serial</th>
              <th scope="col">Module</th>
              <th scope="col">State</th>
              <th scope="col"><span className="sr-only">Actions</span></th>
            </tr>
          </thead>
          <tbody>
            {props.tokens.map((t) => (
              <tr key={`${t.module}|${t.serial}|${t.label}`}>
                <th scope="row">{t.label}</th>
                <td>{t.manufacturer}</td>
                <td>{t.model}</td>
                <td className="mono">{t.serial}</td>
                <td className="mono ellipsis" title={t.module}>{t.module}</td>
                <td>
                  {t.initialized === false ? (
                    <span className="badge uninitialised" title="An empty slot: initialise a token in it (e.g. softhsm2-util --init-token) to use it">
                      not initialised
                    </span>
                  ) : (
                    <span className={`badge ${t.unlocked ? 'unlocked' : 'locked'}`}>{t.unlocked ? 'unlocked' : 'locked'}</span>
                  )}
                </td>
                <td className="actions">
                  <button type="button" disabled={!t.unlocked} aria-label={`Lock ${t.label}`} onClick={() => void lock(t.label)}>
                    Lock
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
