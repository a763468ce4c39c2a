/** The window: tabs over the screens, the prompt on top when one waits, the status bar below. */
import { useState, type KeyboardEvent } from 'react';
import { PromptQueue } from './components/PromptQueue';
import { StatusBar } from './components/StatusBar';
import { useStore } from './state/context';
import { useLink, useViewState } from './state/store';
import { useAttention } from './state/attention';
import { About } from './screens/About';
import { Connections } from './screens/Connections';
import { Identities } from './screens/Identities';
import { Rules } from './screens/Rules';
import { Settings } from './screens/Settings';
import { Tokens } from './screens/Tokens';

const TABS = ['Connections', 'Identities', 'Tokens', 'Rules', 'Settings', 'About'] as const;
type Tab = (typeof TABS)[number];

export function App() {
  const store = useStore();
  const state = useViewState(store);
  const link = useLink(store);
  const [tab, setTab] = useState<Tab>('Connections');
  useAttention(state);

  // Arrow keys move between tabs (the WAI-ARIA tabs pattern).
  const onTabKey = (e: KeyboardEvent) => {
    const i = TABS.indexOf(tab);
    const to = e.key === 'ArrowRight' ? i + 1 : e.key === 'ArrowLeft' ? i - 1 : null;
    if (to === null) return;
    e.preventDefault();
    const next = TABS[(to + TABS.length) % TABS.length];
    setTab(next);
    document.getElementById(`tab-${next}`)?.focus();
  };

  if (link.kind === 'unusable') {
    // Nothing to show or do without the agent; say how to get in (the reason names the address).
    return (
      <div className="app">
        <main className="page no-access" aria-labelledby="no-access-h">
          <h1 id="no-access-h">Not connected</h1>
          <p>{link.reason[0]!.toUpperCase() + link.reason.slice(1)}.</p>
          <p className="muted">
            That address carries an access token, which this tab then keeps: a reload keeps working, a new tab or
            window needs the address again, and so does a new run of <code>tlspool ui --web</code>.
          </p>
        </main>
        <StatusBar state={state} link={link} />
      </div>
    );
  }

  return (
    <div className={`app${link.kind === 'up' ? '' : ' stale'}`}>
      <header className="topbar">
        <span className="brand" aria-hidden="true">
          <span className="logo" /> TLS Pool
        </span>
        <div role="tablist" aria-label="Sections" className="tabs" onKeyDown={onTabKey}>
          {TABS.map((t) => (
            <button
              key={t}
              id={`tab-${t}`}
              role="tab"
              type="button"
              aria-selected={t === tab}
              aria-controls="panel"
              tabIndex={t === tab ? 0 : -1}
              onClick={() => setTab(t)}
            >
              {t}
            </button>
          ))}
        </div>
      </header>
      <main id="panel" role="tabpanel" aria-labelledby={`tab-${tab}`} className={`panel panel-${tab.toLowerCase()}`}>
        {tab === 'Connections' && <Connections state={state} />}
        {tab === 'Identities' && <Identities identities={state.identities} trust={state.trust} />}
        {tab === 'Tokens' && <Tokens tokens={state.tokens} />}
        {tab === 'Rules' && <Rules rules={state.rules} />}
        {tab === 'Settings' && <Settings settings={state.settings} />}
        {tab === 'About' && <About daemon={state.daemon} />}
      </main>
      <StatusBar state={state} link={link} />
      <PromptQueue state={state} />
    </div>
  );
}
