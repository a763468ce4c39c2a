/** The running daemon's tunables; saved ones last until it restarts or reloads its configuration. */
import { useEffect, useState, type FormEvent } from 'react';
import type { Disclosure } from '../../../src/model/disclosure';
import { NUMBER_SETTINGS, type NumberSettingKey, type Settings as SettingsT } from '../../../src/model/settings';
import { useStore } from '../state/context';

type NumberKey = NumberSettingKey;

const NUMBERS = NUMBER_SETTINGS;

type Draft = Record<NumberKey, string> & { defaultDisclosure: Disclosure };

function draftOf(s: SettingsT): Draft {
  const d = { defaultDisclosure: s.defaultDisclosure } as Draft;
  for (const n of NUMBERS) d[n.key] = String(s[n.key]);
  return d;
}

export function Settings(props: { settings: SettingsT | null }) {
  const store = useStore();
  const [draft, setDraft] = useState<Draft | null>(props.settings && draftOf(props.settings));
  const [dirty, setDirty] = useState(false);
  const [saving, setSaving] = useState(false);

  // Changes from elsewhere (another window, SIGHUP) show up unless the form has edits.
  useEffect(() => {
    if (props.settings && !dirty) setDraft(draftOf(props.settings));
  }, [props.settings, dirty]);

  if (!props.settings || !draft) {
    return (
      <section className="page" aria-labelledby="settings-h">
        <h1 id="settings-h">Settings</h1>
        <p className="muted">The settings are not available while the daemon is down.</p>
      </section>
    );
  }
  const current = props.settings;

  const invalid = NUMBERS.filter((n) => {
    const t = draft[n.key].trim();
    return !/^\d+$/.test(t) || Number(t) < n.min || Number(t) > n.max;
  });
  const edit = (patch: Partial<Draft>) => {
    setDraft({ ...draft, ...patch });
    setDirty(true);
  };

  const save = async (e: FormEvent) => {
    e.preventDefault();
    if (invalid.length) return;
    const changed: { -readonly [K in keyof SettingsT]?: SettingsT[K] } = {};
    for (const n of NUMBERS) {
      const v = Number(draft[n.key]);
      if (v !== current[n.key]) changed[n.key] = v;
    }
    if (draft.defaultDisclosure !== current.defaultDisclosure) changed.defaultDisclosure = draft.defaultDisclosure;
    setSaving(true);
    const saved = await store.run('Saving the settings', () => store.api.updateSettings(changed));
    setSaving(false);
    if (saved) {
      setDirty(false);
      setDraft(draftOf(saved));
      store.notice('info', 'Settings saved');
    }
  };

  return (
    <section className="page" aria-labelledby="settings-h">
      <h1 id="settings-h">Settings</h1>
      <form className="settings" onSubmit={(e) => void save(e)}>
        {NUMBERS.map((n) => {
          const bad = invalid.includes(n);
          return (
            <div className="field" key={n.key}>
              <label htmlFor={`set-${n.key}`}>{n.label}</label>
              <div className="with-unit">
                <input
                  id={`set-${n.key}`}
                  inputMode="numeric"
                  value={draft[n.key]}
                  aria-invalid={bad}
                  aria-describedby={`set-${n.key}-help`}
                  onChange={(e) => edit({ [n.key]: e.currentTarget.value } as Partial<Draft>)}
                />
                <span className="unit">seconds</span>
              </div>
              <p id={`set-${n.key}-help`} className={bad ? 'help warning' : 'help'}>
                {bad ? `A whole number of seconds from ${n.min} to ${n.max}.` : n.help}
              </p>
            </div>
          );
        })}
        <div className="field">
          <label htmlFor="set-defaultDisclosure">Default disclosure</label>
          <select
            id="set-defaultDisclosure"
            value={draft.defaultDisclosure}
            aria-describedby="set-defaultDisclosure-help"
            onChange={(e) => edit({ defaultDisclosure: e.currentTarget.value as Disclosure })}
          >
            <option value="allow">Allow</option>
            <option value="deny">Deny</option>
          </select>
          <p id="set-defaultDisclosure-help" className="help">
            What happens when no rule matches and no approval agent runs.
          </p>
        </div>
        <div className="buttons">
          <button type="button" disabled={!dirty || saving} onClick={() => (setDirty(false), setDraft(draftOf(current)))}>
            Revert
          </button>
          <button type="submit" className="primary" disabled={!dirty || saving || invalid.length > 0}>
            Save
          </button>
        </div>
      </form>
    </section>
  );
}
