/**
 * A question waiting must be noticed, also in a tab the person is not
 * looking at: the page title counts the waiting PIN prompts and approvals,
 * and while the page is hidden each new one is also shown with the
 * browser's Notification API, when the person has allowed it.
 */
import { useEffect, useRef } from 'react';
import type { ViewState } from './reducer';
import { application } from '../format';

export const BASE_TITLE = 'TLS Pool';

/** "(1) PIN needed — TLS Pool", "(2) Approval needed — TLS Pool", or just "TLS Pool". */
export function pageTitle(state: Pick<ViewState, 'pinPrompts' | 'approvals'>): string {
  const n = state.pinPrompts.length + state.approvals.length;
  if (n === 0) return BASE_TITLE;
  // The first one shown is what the title names (PIN prompts come first, as in the prompt queue).
  const what = state.pinPrompts.length > 0 ? 'PIN needed' : 'Approval needed';
  return `(${n}) ${what} — ${BASE_TITLE}`;
}

interface Question {
  readonly id: string;
  readonly title: string;
  readonly body: string;
}

function questions(state: ViewState): Question[] {
  return [
    ...state.pinPrompts.map((p) => ({ id: `pin-${p.id}-${p.attempt}`, title: `${BASE_TITLE}: PIN needed for token "${p.tokenLabel}"`, body: p.prompt })),
    ...state.approvals.map((a) => ({
      id: `approval-${a.id}`,
      title: `${BASE_TITLE}: approve showing ${a.localid}?`,
      body: `${application(a)} wants to show ${a.localid} to ${a.remote}.`,
    })),
  ];
}

/** Whether notifications may be shown now (the API exists and the person allowed it). */
export function notificationsAllowed(): boolean {
  return typeof Notification !== 'undefined' && Notification.permission === 'granted';
}

export function useAttention(state: ViewState): void {
  const told = useRef(new Set<string>());
  const shown = useRef(new Map<string, Notification>());

  useEffect(() => {
    document.title = pageTitle(state);
  }, [state.pinPrompts, state.approvals]);

  useEffect(() => {
    const now = questions(state);
    const ids = new Set(now.map((q) => q.id));
    // Answered, withdrawn or timed out: its notification goes too.
    for (const [id, n] of shown.current) {
      if (!ids.has(id)) {
        n.close();
        shown.current.delete(id);
      }
    }
    for (const id of told.current) if (!ids.has(id)) told.current.delete(id);
    for (const q of now) {
      if (told.current.has(q.id)) continue;
      told.current.add(q.id);
      if (!document.hidden || !notificationsAllowed()) continue;
      const n = new Notification(q.title, { body: q.body, tag: q.id, requireInteraction: true });
      n.onclick = () => {
        window.focus();
        n.close();
      };
      shown.current.set(q.id, n);
    }
  }, [state.pinPrompts, state.approvals]);
}
