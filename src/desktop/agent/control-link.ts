/**
 * The agent's side of the control socket: subscribe to events, become the
 * approval agent, load what the UI shows, and keep it current from the
 * event stream. One ControlLink per control connection.
 */
import { ControlClient } from '../../client/control-client';
import { Failure } from '../../model/failure';
import { type ConnectionRecord, MAX_PAGE_ROWS } from '../../model/connection';
import type { PoolEvent } from '../../model/events';
import type { Notice } from '../../contract/desktop';
import type { UiStore } from './state';

/** A notice that the next established connection answers: a failure, or a PIN prompt's news. */
function outcomePending(n: Notice | null): boolean {
  return n !== null && (n.topic === 'pin' || (n.topic === 'connection' && n.level !== 'info'));
}

export class ControlLink {
  private constructor(
    readonly client: ControlClient,
    private readonly store: UiStore,
    private readonly connectionLimit: number,
  ) {}

  /**
   * Connect, subscribe and register; rejects when the control socket cannot
   * be reached or refuses the subscription. `linked` gets the link as soon as
   * it is connected. Failing to become the approval
   * agent (another one holds it) is a notice, not a failure.
   */
  static async open(path: string, store: UiStore, connectionLimit: number, linked: (link: ControlLink) => void): Promise<ControlLink> {
    const client = await ControlClient.connect(path);
    const link = new ControlLink(client, store, connectionLimit);
    // Usable before registering: an approval may be asked, and answered, while the rest loads.
    linked(link);
    try {
      client.on('event', (e) => link.onEvent(e));
      client.on('approval.ask', (a) => {
        store.addApproval(a);
        store.notice('info', `approval asked: show ${a.localid} to ${a.remote}?`);
      });
      client.on('approval.withdraw', ({ id, reason }) => {
        store.removeApproval(id);
        store.notice('info', `an approval was withdrawn: ${reason}`);
      });
      await client.call('events.subscribe', {});
      try {
        await client.call('approval.register', {});
      } catch (e) {
        if (!(e instanceof Failure) || e.code !== 'EBUSY') throw e;
        store.notice('warn', `another approval agent is registered; disclosure approvals are asked there (${e.message})`);
      }
      await link.reload();
      return link;
    } catch (e) {
      client.close();
      throw e;
    }
  }

  /** Fetch everything the UI shows; each part that fails keeps what the state had. */
  async reload(): Promise<void> {
    const c = this.client;
    const [status, connections, identities, trust, tokens, rules, settings] = await Promise.allSettled([
      c.call('status', {}),
      this.connections(this.connectionLimit),
      c.call('identities.list', {}),
      c.call('trust.list', {}),
      c.call('tokens.list', {}),
      c.call('rules.list', {}),
      c.call('settings.get', {}),
    ]);
    const value = <T>(r: PromiseSettledResult<T>): T | undefined => (r.status === 'fulfilled' ? r.value : undefined);
    const parts = {
      connections: value(connections),
      identities: value(identities),
      trust: value(trust),
      tokens: value(tokens),
      rules: value(rules),
      settings: value(settings),
    };
    this.store.load(Object.fromEntries(Object.entries(parts).filter(([, v]) => v !== undefined)));
    const s = value(status);
    if (s) this.store.setDaemon({ status: s });
  }

  /**
   * Up to `limit` connections, most recent first (older than `beforeId` when
   * given), in as many connections.list pages as that takes: a page holds at
   * most MAX_PAGE_ROWS.
   */
  async connections(limit: number, beforeId?: number): Promise<ConnectionRecord[]> {
    const rows: ConnectionRecord[] = [];
    let before = beforeId;
    while (rows.length < limit) {
      const page = await this.client.call('connections.list', {
        limit: Math.min(MAX_PAGE_ROWS, limit - rows.length),
        ...(before === undefined ? {} : { beforeId: before }),
      });
      for (const r of page.connections) rows.push(r);
      const last = page.connections[page.connections.length - 1];
      if (!page.more || !last) break;
      before = last.id;
    }
    return rows;
  }

  /**
   * Read again what the CLI may have changed in the state database, before a
   * page (re)loads: what it is shown is then the database's, even from a
   * daemon that does not tell of such changes.
   */
  async refreshStored(): Promise<void> {
    await Promise.all([this.refresh('identities'), this.refresh('trust'), this.refresh('rules')]);
  }

  private async refresh(what: 'identities' | 'trust' | 'tokens' | 'rules' | 'status'): Promise<void> {
    try {
      const c = this.client;
      if (what === 'identities') this.store.setIdentities(await c.call('identities.list', {}));
      else if (what === 'trust') this.store.setTrust(await c.call('trust.list', {}));
      else if (what === 'tokens') this.store.setTokens(await c.call('tokens.list', {}));
      else if (what === 'rules') this.store.setRules(await c.call('rules.list', {}));
      else if (this.store.state.daemon.up) this.store.setDaemon({ status: await c.call('status', {}) });
    } catch {
      // The connection closed under us: the agent notices and reconnects.
    }
  }

  private onEvent(e: PoolEvent): void {
    const store = this.store;
    switch (e.type) {
      case 'connection-opened':
      case 'connection-established':
      case 'connection-closed': {
        store.upsertConnection(e.connection);
        const err = e.connection.error;
        const who = e.connection.remoteid || e.connection.peer || 'a peer';
        if (err) store.notice('error', `connection to ${who} failed: ${err.errno} (${err.message})`, 'connection');
        else if (e.type === 'connection-established' && outcomePending(store.state.lastNotice)) {
          // The outcome replaces the earlier failure, or the PIN question that led here.
          store.notice('info', `connection to ${who} established`, 'connection');
        }
        void this.refresh('status');
        return;
      }
      case 'approval-decided':
        store.removeApproval(e.id);
        store.notice('info', `approval ${e.decision === 'allow' ? 'allowed' : 'denied'}${e.by === 'agent' ? '' : ` (${e.by})`}`);
        return;
      case 'tokens-locked':
        store.notice('info', `${e.count} token${e.count === 1 ? '' : 's'} locked`);
        void this.refresh('tokens');
        void this.refresh('status');
        return;
      case 'identities-changed':
        void this.refresh('identities');
        return;
      case 'trust-changed':
        void this.refresh('trust');
        return;
      case 'rules-changed':
        void this.refresh('rules');
        return;
      case 'settings-changed':
        store.setSettings(e.settings);
        return;
      case 'config-reloaded':
        store.notice('info', `the daemon reloaded its configuration${e.configFile ? ` (${e.configFile})` : ''}`);
        void this.refresh('status');
        return;
      case 'pin-answered':
        if (e.outcome === 'timeout') store.notice('warn', `nobody gave the PIN for token "${e.token.label}" in time`, 'pin');
        void this.refresh('tokens');
        return;
      case 'pinentry-registered':
      case 'pinentry-left':
      case 'approval-agent-registered':
      case 'approval-agent-left':
        void this.refresh('status');
        return;
      case 'pin-requested':
      case 'approval-asked':
        // Our own PINENTRY prompt and approval.ask carry these, with the handles to answer them.
        return;
    }
  }
}
