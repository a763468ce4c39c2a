/** One line at the bottom: is the daemon up (and the agent reachable), and the last thing that happened. */
import { useEffect, useState } from 'react';
import { noticeShown, NOTICE_SHOWN_MS } from '../../../src/contract/desktop';
import type { Link } from '../transport';
import type { ViewState } from '../state/reducer';
import { clockTime } from '../format';

function daemonText(state: ViewState, link: Link): { text: string; level: 'ok' | 'warn' | 'error' } {
  switch (link.kind) {
    case 'unusable':
      return { text: `Not connected — ${link.reason}`, level: 'error' };
    case 'down':
      return { text: `Agent unreachable — ${link.reason}; reconnecting…`, level: 'error' };
    case 'connecting':
      // Once loaded, what is on screen is from before the link dropped: do not call it current.
      return { text: state.loaded ? 'Reconnecting to the agent…' : 'Connecting to the agent…', level: 'warn' };
    case 'up':
      if (!state.loaded) return { text: 'Loading…', level: 'warn' };
  }
  const d = state.daemon;
  if (!d) return { text: 'Daemon state unknown', level: 'warn' };
  if (!d.up) return { text: `Daemon down — ${d.message}`, level: 'error' };
  const n = d.status?.connections.live ?? 0;
  return { text: `Daemon up — ${n} ${n === 1 ? 'connection' : 'connections'}`, level: 'ok' };
}

/** Redraw once `notice` is due to go, so a stale one does not stay. */
function useExpiry(notice: ViewState['lastNotice']): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    setNow(Date.now());
    if (!notice) return;
    const left = Date.parse(notice.at) + NOTICE_SHOWN_MS[notice.level] - Date.now();
    if (!(left > 0)) return;
    const t = setTimeout(() => setNow(Date.now()), left + 50);
    return () => clearTimeout(t);
  }, [notice]);
  return now;
}

export function StatusBar(props: { state: ViewState; link: Link }) {
  const { text, level } = daemonText(props.state, props.link);
  const now = useExpiry(props.state.lastNotice);
  const last = props.state.lastNotice;
  const notice = last && noticeShown(last, now) ? last : null;
  return (
    <footer className="statusbar" role="status">
      <span className={`dot ${level}`} aria-hidden="true" />
      <span className="daemon-text">{text}</span>
      {notice && (
        <span className={`notice ${notice.level}`}>
          <span className="sr-only">. Last notice: </span>
          <span className="notice-time">{clockTime(notice.at)}</span> {notice.text}
        </span>
      )}
    </footer>
  );
}
