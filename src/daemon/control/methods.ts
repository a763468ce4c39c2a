/**
 * What each control method does (ControlMethods in api.ts): reads of the
 * running daemon's state and the few changes the desktop app makes. Params
 * are checked here; the work is done by the parts that own it.
 */
import { readCertificate } from '../../util/certificate';
import type { EventBus } from '../../events/bus';
import type { DisclosureRules } from '../disclosure/rules';
import { derOf, splitPemChain } from '../../util/pem';
import type { IdentityStore } from '../../store/identities';
import type { Logger } from '../../log/logger';
import { certInfo } from '../../addon/tls/certs';
import type { ApprovalAgent, ApprovalService } from '../disclosure/approval';
import type { ConnectionLog } from '../../store/connection-log';
import type { ControlMethod, ControlMethods, DaemonStatus } from '../../contract/control';
import { type CertInfo, MAX_PAGE_ROWS } from '../../model/connection';
import { type IdentityInfo, type TrustAnchorInfo, type Validity, validityOf } from '../../model/identity';
import { DISCLOSURE_CHOICES, NUMBER_SETTINGS, type Settings } from '../../model/settings';
import type { TokenInfo } from '../../model/tokens';
import { Params } from './params';
import type { ControlPeer, Dispatch } from './server';
import { Failure } from '../../model/failure';

export interface ControlContext {
  status(): DaemonStatus;
  readonly bus: EventBus;
  readonly connections: ConnectionLog;
  readonly store: IdentityStore;
  /** The store was changed here: drop loaded credentials. */
  identitiesChanged(): void;
  readonly rules: DisclosureRules;
  readonly approval: ApprovalService;
  tokens(): Promise<TokenInfo[]>;
  lockTokens(label?: string): number;
  getSettings(): Settings;
  setSettings(change: Partial<Settings>): Settings;
  readonly log: Logger;
}

type Impl<M extends ControlMethod> = (p: Params, peer: ControlPeer) => ControlMethods[M]['result'] | Promise<ControlMethods[M]['result']>;

type Methods<K extends ControlMethod> = { [M in K]: Impl<M> };

export function controlDispatch(ctx: ControlContext): Dispatch {
  const methods: Methods<ControlMethod> = { ...poolMethods(ctx), ...identityMethods(ctx), ...approvalMethods(ctx), ...settingsMethods(ctx) };
  // Not async: an answer known at once is sent at once, so the connection
  // sees how much output it has queued before it takes the next request.
  return (peer, method, params) => {
    if (!Object.prototype.hasOwnProperty.call(methods, method)) {
      throw new Failure('ENOSYS', `no method "${method}"; the methods are: ${Object.keys(methods).join(', ')}`);
    }
    const impl = methods[method as ControlMethod] as Impl<ControlMethod>;
    return impl(new Params(method, params), peer);
  };
}

/** The daemon's status, its event stream and its connection log. */
function poolMethods(ctx: ControlContext): Methods<'status' | 'events.subscribe' | 'connections.list' | 'connections.get'> {
  const subscribed = new WeakSet<ControlPeer>();
  return {
    status: (p) => (p.done(), ctx.status()),
    'events.subscribe': (p, peer) => {
      p.done();
      if (!subscribed.has(peer)) {
        subscribed.add(peer);
        const off = ctx.bus.onAny((event) => peer.notify('event', event));
        peer.onClose(off);
      }
      return { subscribed: true };
    },
    'connections.list': (p) => {
      const hint = `a page holds at most ${MAX_PAGE_ROWS}: for more, ask again with beforeId set to the last id of the page while "more" is true`;
      const limit = p.optInt('limit', 1, MAX_PAGE_ROWS, hint) ?? MAX_PAGE_ROWS;
      const beforeId = p.optInt('beforeId', 1, Number.MAX_SAFE_INTEGER);
      p.done();
      return ctx.connections.page(limit, beforeId);
    },
    'connections.get': (p) => {
      const id = p.int('id', 1, Number.MAX_SAFE_INTEGER);
      p.done();
      const connection = ctx.connections.get(id);
      if (!connection) throw new Failure('ENOENT', `no connection ${id} (the log keeps the most recent ones)`);
      return { connection, chain: connection.peerChain.map(pemInfo) };
    },
  };
}

/** Local identities, the tokens their keys are on, and the disclosure rules. */
function identityMethods(
  ctx: ControlContext,
): Methods<
  'identities.list' | 'identities.setDefault' | 'identities.remove' | 'trust.list' | 'tokens.list' | 'tokens.lock' | 'rules.list' | 'rules.revoke'
> {
  const identities = (): IdentityInfo[] => ctx.store.listIdentities().map(identityInfo);
  /** After a change of the store here: loaded credentials dropped, the change logged and told, the new list. */
  const identitiesChanged = (what: string, localid: string): IdentityInfo[] => {
    ctx.identitiesChanged();
    ctx.log.info(what, { localid });
    ctx.bus.emit({ type: 'identities-changed' });
    return identities();
  };

  return {
    'identities.list': (p) => (p.done(), identities()),
    'identities.setDefault': (p) => {
      const localid = p.str('localid');
      p.done();
      ctx.store.setDefault(localid);
      return identitiesChanged('default identity set', localid);
    },
    'identities.remove': (p) => {
      const localid = p.str('localid');
      p.done();
      ctx.store.removeIdentity(localid);
      return identitiesChanged('identity removed', localid);
    },
    'trust.list': (p) => (p.done(), ctx.store.listTrustAnchors().map(trustAnchorInfo)),
    'tokens.list': (p) => (p.done(), ctx.tokens()),
    'tokens.lock': (p) => {
      const label = p.optStr('label');
      p.done();
      return { locked: ctx.lockTokens(label) };
    },
    'rules.list': (p) => (p.done(), ctx.rules.list()),
    'rules.revoke': (p) => {
      const id = p.int('id', 1, Number.MAX_SAFE_INTEGER);
      p.done();
      const rule = ctx.rules.revoke(id);
      ctx.log.info('disclosure rule revoked', { ...rule });
      ctx.bus.emit({ type: 'rules-changed' });
      return ctx.rules.list();
    },
  };
}

/** The approval agent: registering, and its decisions. */
function approvalMethods(ctx: ControlContext): Methods<'approval.register' | 'approval.decide'> {
  const agents = new WeakMap<ControlPeer, ApprovalAgent>();
  return {
    'approval.register': (p, peer) => {
      p.done();
      let agent = agents.get(peer);
      if (!agent) {
        agent = { pid: peer.pid, executable: peer.executable, notify: (method, params) => peer.notify(method, params) };
        agents.set(peer, agent);
      }
      ctx.approval.register(agent);
      const registered = agent;
      peer.onClose(() => ctx.approval.unregister(registered));
      return { registered: true };
    },
    'approval.decide': (p, peer) => {
      const id = p.str('id');
      const decision = p.oneOf('decision', ['allow', 'deny'] as const);
      const localid = p.optStr('localid');
      const remote = p.optStr('remote');
      const lifetime = p.oneOf('lifetime', ['once', 'restart', 'forever'] as const);
      p.done();
      const agent = agents.get(peer);
      if (!agent || !ctx.approval.isAgent(agent)) {
        throw new Failure('EPERM', 'only the registered approval agent may decide; call approval.register first');
      }
      ctx.approval.answer(agent, { id, decision, localid, remote, lifetime });
      return { decided: true };
    },
  };
}

/** The runtime settings. */
function settingsMethods(ctx: ControlContext): Methods<'settings.get' | 'settings.set'> {
  return {
    'settings.get': (p) => (p.done(), ctx.getSettings()),
    'settings.set': (p) => {
      const change: { -readonly [K in keyof Settings]?: Settings[K] } = {};
      for (const s of NUMBER_SETTINGS) change[s.key] = p.optInt(s.key, s.min, s.max);
      change.defaultDisclosure = p.optOneOf('defaultDisclosure', DISCLOSURE_CHOICES);
      p.done();
      for (const k of Object.keys(change) as Array<keyof Settings>) if (change[k] === undefined) delete change[k];
      const settings = ctx.setSettings(change);
      ctx.bus.emit({ type: 'settings-changed', settings });
      return settings;
    },
  };
}

function identityInfo(i: { localid: string; isDefault: boolean; keyRef: string; chainPem: string; addedAt: string }): IdentityInfo {
  let subject = '';
  let issuer = '';
  let notAfter = '';
  let validity: Validity | undefined;
  try {
    const leaf = readCertificate(splitPemChain(i.chainPem)[0]!);
    ({ subject, issuer } = leaf);
    notAfter = leaf.notAfter.toISOString();
    validity = validityOf(leaf);
  } catch {
    // A stored chain that no longer parses: shown with empty fields rather than hiding the identity.
  }
  return { localid: i.localid, isDefault: i.isDefault, keyRef: i.keyRef, subject, issuer, notAfter, ...(validity ? { validity } : {}), addedAt: i.addedAt };
}

function trustAnchorInfo(a: { sha256: string; subject: string; certPem: string; addedAt: string }): TrustAnchorInfo {
  let notAfter = '';
  try {
    notAfter = readCertificate(a.certPem).notAfter.toISOString();
  } catch {
    // Listed with what the table says.
  }
  return { sha256: a.sha256, subject: a.subject, notAfter, addedAt: a.addedAt };
}

/** A stored PEM that does not parse is shown as damaged rather than failing the whole answer. */
function pemInfo(pem: string): CertInfo {
  const der = derOf(pem);
  let c: ReturnType<typeof certInfo>;
  try {
    c = certInfo(der);
  } catch (e) {
    const damaged = `the certificate does not parse: ${(e as Error).message}`;
    return { subject: '', issuer: '', serial: '', notBefore: '', notAfter: '', altNames: [], sha256: '', pem, damaged };
  }
  return {
    subject: c.subject,
    issuer: c.issuer,
    serial: c.serial,
    notBefore: c.notBefore.toISOString(),
    notAfter: c.notAfter.toISOString(),
    altNames: [...c.dnsNames, ...c.rfc822Names],
    sha256: c.sha256,
    pem,
  };
}
