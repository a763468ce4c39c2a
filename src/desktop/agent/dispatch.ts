/**
 * Every DesktopMethods handler, and the one dispatch function both
 * transports call (the WebSocket bridge and Electron's ipcMain). Params come
 * from outside the process, so each is checked here before it is used.
 */
import type { ControlMethod, ControlMethods } from '../../contract/control';
import { DESKTOP_METHODS, type DesktopMethod, type DesktopMethods } from '../../contract/desktop';
import { DISCLOSURE_CHOICES, NUMBER_SETTINGS } from '../../model/settings';
import { KEEP_ROWS } from '../../store/connection-log';
import type { DesktopAgent } from './agent';
import type { ControlLink } from './control-link';
import { Failure } from '../../model/failure';

type Handlers = { [M in DesktopMethod]: (params: DesktopMethods[M]['params']) => Promise<DesktopMethods[M]['result']> };

const LIFETIMES = ['once', 'restart', 'forever'];

export function isDesktopMethod(name: unknown): name is DesktopMethod {
  return typeof name === 'string' && (DESKTOP_METHODS as readonly string[]).includes(name);
}

/** Run `method` with `params` (unchecked input); rejects with an Failure whose code says what was wrong. */
export async function dispatch(agent: DesktopAgent, method: unknown, params: unknown): Promise<unknown> {
  if (!isDesktopMethod(method)) throw new Failure('ENOSYS', `unknown method ${JSON.stringify(method)}; the methods are ${DESKTOP_METHODS.join(', ')}`);
  if (typeof params !== 'object' || params === null || Array.isArray(params)) {
    throw new Failure('EINVAL', `${method}: params must be an object`);
  }
  const handler = handlers(agent)[method] as (p: unknown) => Promise<unknown>;
  return handler(params);
}

function field(method: string, p: object, name: string, type: 'string' | 'number', optional = false): void {
  const v = (p as Record<string, unknown>)[name];
  if (v === undefined && optional) return;
  if (typeof v !== type || (type === 'number' && !Number.isFinite(v))) {
    throw new Failure('EINVAL', `${method}: ${name} must be a ${type}${optional ? ' when given' : ''}`);
  }
}

async function control<M extends ControlMethod>(agent: DesktopAgent, method: M, params: ControlMethods[M]['params']): Promise<ControlMethods[M]['result']> {
  return controlLink(agent).client.call(method, params);
}

function controlLink(agent: DesktopAgent): ControlLink {
  const link = agent.control;
  if (!link) {
    throw new Failure(
      agent.state.daemon.up ? 'ENOTCONN' : 'ECONNREFUSED',
      agent.state.daemon.up
        ? `the daemon's control socket is unavailable (${agent.controlSocket}); this needs a daemon that has one`
        : `the TLS pool is not reachable: ${agent.state.daemon.message}`,
    );
  }
  return link;
}

/** A whole number from 1 to `max` (when given). */
function count(method: string, p: object, name: string, max: number, optional = false): void {
  const v = (p as Record<string, unknown>)[name];
  if (v === undefined && optional) return;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max) {
    throw new Failure('EINVAL', `${method}: ${name} must be a whole number from 1 to ${max}${optional ? ' when given' : ''}`);
  }
}

const ok = { ok: true } as const;

function handlers(agent: DesktopAgent): Handlers {
  return { ...viewHandlers(agent), ...changeHandlers(agent) };
}

type Some<K extends DesktopMethod> = Pick<Handlers, K>;

/** What the UI reads, and its answers to PIN prompts. */
function viewHandlers(agent: DesktopAgent): Some<'getState' | 'connections' | 'connectionDetails' | 'answerPin' | 'cancelPin'> {
  const store = agent.store;
  return {
    getState: async () => {
      // A page that (re)loads sees the state database as it is now, not as this agent last heard.
      await agent.control?.refreshStored();
      return agent.state;
    },
    connections: async (p) => {
      // Any number of rows the log keeps, fetched a page at a time.
      count('connections', p, 'limit', KEEP_ROWS);
      count('connections', p, 'beforeId', Number.MAX_SAFE_INTEGER, true);
      return controlLink(agent).connections(p.limit, p.beforeId);
    },
    connectionDetails: async (p) => {
      field('connectionDetails', p, 'id', 'number');
      return control(agent, 'connections.get', { id: p.id });
    },
    answerPin: async (p) => {
      // The WebSocket bridge hands the PIN on as bytes taken out of the frame
      // (bridge.ts); they are ours to wipe on every way out that does not send them.
      const pin: unknown = (p as { pin?: unknown }).pin;
      try {
        field('answerPin', p, 'id', 'string');
        if (typeof pin !== 'string' && !(pin instanceof Uint8Array)) throw new Failure('EINVAL', 'answerPin: pin must be a string');
      } catch (e) {
        if (pin instanceof Uint8Array) pin.fill(0);
        throw e;
      }
      agent.pins.answer(p.id, pin); // takes the bytes: wipes them if it refuses
      return ok;
    },
    cancelPin: async (p) => {
      field('cancelPin', p, 'id', 'string');
      agent.pins.cancel(p.id);
      store.notice('info', 'PIN entry cancelled', 'pin');
      return ok;
    },
  };
}

/** What the UI changes: approvals, identities, tokens, rules, settings. */
function changeHandlers(
  agent: DesktopAgent,
): Some<'decideApproval' | 'setDefaultIdentity' | 'removeIdentity' | 'lockTokens' | 'revokeRule' | 'updateSettings'> {
  const store = agent.store;
  return {
    decideApproval: async (p) => {
      field('decideApproval', p, 'id', 'string');
      if (p.decision !== 'allow' && p.decision !== 'deny') throw new Failure('EINVAL', 'decideApproval: decision must be "allow" or "deny"');
      if (!LIFETIMES.includes(p.lifetime)) throw new Failure('EINVAL', `decideApproval: lifetime must be one of ${LIFETIMES.join(', ')}`);
      field('decideApproval', p, 'localid', 'string', true);
      field('decideApproval', p, 'remote', 'string', true);
      const { id, decision, lifetime, localid, remote } = p;
      await control(agent, 'approval.decide', { id, decision, lifetime, localid, remote });
      store.removeApproval(id);
      return ok;
    },
    setDefaultIdentity: async (p) => {
      field('setDefaultIdentity', p, 'localid', 'string');
      store.setIdentities(await control(agent, 'identities.setDefault', { localid: p.localid }));
      return ok;
    },
    removeIdentity: async (p) => {
      field('removeIdentity', p, 'localid', 'string');
      store.setIdentities(await control(agent, 'identities.remove', { localid: p.localid }));
      return ok;
    },
    lockTokens: async (p) => {
      field('lockTokens', p, 'label', 'string', true);
      const pool = agent.poolClient;
      if (!agent.control && p.label === undefined && pool) {
        // Without a control socket the V1 LOCAL LOCK still locks them all; it does not say how many.
        await pool.lock();
        store.notice('info', 'all tokens locked');
        return { locked: 0 };
      }
      const r = await control(agent, 'tokens.lock', p.label === undefined ? {} : { label: p.label });
      store.notice('info', `${r.locked} token${r.locked === 1 ? '' : 's'} locked`);
      return r;
    },
    revokeRule: async (p) => {
      field('revokeRule', p, 'id', 'number');
      store.setRules(await control(agent, 'rules.revoke', { id: p.id }));
      return ok;
    },
    updateSettings: async (p) => {
      for (const s of NUMBER_SETTINGS) field('updateSettings', p, s.key, 'number', true);
      if (p.defaultDisclosure !== undefined && !(DISCLOSURE_CHOICES as readonly unknown[]).includes(p.defaultDisclosure)) {
        throw new Failure('EINVAL', 'updateSettings: defaultDisclosure must be "allow" or "deny"');
      }
      const settings = await control(agent, 'settings.set', p);
      store.setSettings(settings);
      return settings;
    },
  };
}
