/** The running daemon's tunables; saved ones last until it restarts or reloads its configuration. */
import { useEffect, useState, type FormEvent } from 'react';
import type { Disclosure } from '../../../src/model/disclosure';
import { NUMBER_SETTINGS, type NumberSetting, type NumberSettingKey, type Settings as SettingsT } from '../../../src/model/settings';
import { useStore } from '../state/context';
import { messageOf } from '../state/store';
import { duration } from '../format';
import { Notifications } from './Notifications';

type NumberKey = NumberSettingKey;

const NUMBERS = NUMBER_SETTINGS;

type Draft = Record<NumberKey, string> & { defaultDisclosure: Disclosure };

/** What is wrong with `text` for setting `n`, in words for a person; null when it is fine. */
export function settingProblem(n: NumberSetting, text: string): string | null {
  const t = text.trim();
  const range = `from ${n.min} to ${n.max} seconds${n.max >= 120 ? ` (${duration(n.max * 1000)})` : ''}`;
  if (t === '') return `Enter a number of seconds, ${range}.`;
  if (!/^\d+$/.test(t)) return `Use digits only: a whole number of seconds, ${range}.`;
  if (Number(t) < n.min) return `Too short: at least ${n.min} second${n.min === 1 ? '' : 's'}.`;
  if (Number(t) > n.max) return `Too long: at most ${n.max} seconds (${duration(n.max * 1000)}).`;
  return null;
}

/** A refusal from the daemon or agent that names a setting by its key: the setting it is about, in its label's words. */
function refusalFor(message: string): { key: NumberSettingKey; text: string } | null {
  for (const n of NUMBERS) {
    if (message.includes(n.key)) return { key: n.key, text: `The daemon refused this: ${message.split(n.key).join(n.label)}` };
  }
  return null;
}

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
  const [refused, setRefused] = useState<{ key: NumberSettingKey; text: string } | null>(null);

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

  const invalid = NUMBERS.filter((n) => settingProblem(n, draft[n.key]) !== null);
  const edit = (patch: Partial<Draft>) => {
    setDraft({ ...draft, ...patch });
    setDirty(true);
    setRefused(null);
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
    let saved: SettingsT | undefined;
    try {
      saved = await store.api.updateSettings(changed);
    } catch (err) {
      // Next to the field it is about when it names one; else in the status bar.
      const r = refusalFor(messageOf(err));
      if (r) setRefused(r);
      else store.notice('error', `Saving the settings failed: ${messageOf(err)}`);
    }
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
      <p className="settings-note">
        These change the running daemon. They last until it restarts or reloads its configuration (SIGHUP); to keep a
        value, set it in the configuration file.
      </p>
      <form className="settings" onSubmit={(e) => void save(e)}>
        {NUMBERS.map((n) => {
          const problem = settingProblem(n, draft[n.key]) ?? (refused?.key === n.key ? refused.text : null);
          const bad = problem !== null;
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
              <p id={`set-${n.key}-help`} className={bad ? 'help warning' : 'help'} role={bad ? 'alert' : undefined}>
                {problem ?? n.help}
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
      <Notifications />
    </section>
  );
}
