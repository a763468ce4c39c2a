/**
 * The one store: events from the transport are queued and applied once per
 * animation frame (a burst of thousands of connection events costs one
 * render, not thousands), and a fresh snapshot is fetched every time the
 * link comes up. React reads it through useSyncExternalStore.
 */
import { useSyncExternalStore } from 'react';
import type { ConnectionRecord } from '../../../src/model/connection';
import type { DesktopApi, Notice, UiEvent } from '../../../src/contract/desktop';
import type { Link, Transport } from '../transport';
import { initialState, reduce, type ViewState } from './reducer';

/** A hidden tab gets no animation frames; events still apply, just less often. */
const HIDDEN_FLUSH_MS = 250;

export class Store {
  readonly api: DesktopApi;
  private state: ViewState = initialState();
  private link: Link = { kind: 'connecting' };
  private queue: UiEvent[] = [];
  private scheduled = false;
  private listeners = new Set<() => void>();

  constructor(transport: Transport) {
    this.api = transport.api;
    this.api.onEvent((e) => this.enqueue(e));
    transport.onLink((link) => {
      const cameUp = link.kind === 'up' && this.link.kind !== 'up';
      this.link = link;
      this.changed();
      if (cameUp) this.refresh();
    });
  }

  getState = (): ViewState => this.state;
  getLink = (): Link => this.link;

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  /** Fetch the whole state again (the link came up, or the user asked). */
  refresh(): void {
    this.api.getState({}).then(
      (state) => this.enqueue({ type: 'snapshot', state }),
      (err: unknown) => this.notice('error', `Could not load the state: ${messageOf(err)}`),
    );
  }

  /** A notice of the renderer's own (a failed call), shown like the agent's. */
  notice(level: Notice['level'], text: string): void {
    this.enqueue({ type: 'notice', notice: { at: new Date().toISOString(), level, text } });
  }

  /** Rows fetched on request (older pages), merged like pushed ones. */
  addRows(rows: readonly ConnectionRecord[]): void {
    for (const connection of rows) this.enqueue({ type: 'connection', connection });
  }

  /** Run an API call; a failure becomes an error notice. Resolves undefined then. */
  async run<T>(what: string, call: () => Promise<T>): Promise<T | undefined> {
    try {
      return await call();
    } catch (err) {
      this.notice('error', `${what} failed: ${messageOf(err)}`);
      return undefined;
    }
  }

  private enqueue(e: UiEvent): void {
    this.queue.push(e);
    if (this.scheduled) return;
    this.scheduled = true;
    let done = false;
    const flush = (): void => {
      if (done) return;
      done = true;
      this.flush();
    };
    requestAnimationFrame(flush);
    if (document.hidden) setTimeout(flush, HIDDEN_FLUSH_MS);
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    const next = reduce(this.state, batch);
    if (next !== this.state) {
      this.state = next;
      this.changed();
    }
  }

  private changed(): void {
    for (const l of this.listeners) l();
  }
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function useViewState(store: Store): ViewState {
  return useSyncExternalStore(store.subscribe, store.getState);
}

export function useLink(store: Store): Link {
  return useSyncExternalStore(store.subscribe, store.getLink);
}
