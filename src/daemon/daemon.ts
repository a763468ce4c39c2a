/**
 * The daemon's life as an object: startDaemon() wires the state, the pool
 * and control sockets and returns { exited, stop(), reload() }. It installs
 * no signal handlers: `tlspool daemon` maps SIGTERM/SIGINT/SIGHUP onto it,
 * and a desktop agent that hosts the pool calls stop() itself.
 */
import * as path from 'node:path';
import { type Config, type ConfigSources, describeConfig, loadConfig } from '../config';
import { checkDaemonConfig } from '../config/checks';
import { EventBus } from '../events/bus';
import { type Db, openDb } from '../store/db';
import { IdentityStore } from '../store/identities';
import type { Logger } from '../log/logger';
import { guardProcess } from '../log/process-guard';
import { Cmd } from '../protocol/constants';
import { loopStatsHandler } from './server/loop-stats';
import { ping } from './server/ping';
import { PoolLimits } from './server/limits';
import { PoolServer } from './server/pool-server';
import type { Handler } from './server/request';
import { ConnectionLog } from '../store/connection-log';
import { LocalCredentials } from './tls/local-credentials';
import { startTlsHandler, type StartTlsDeps } from './tls/starttls';
import { v2Pool, type V2PoolParts } from './v2/pool-v2';
import { v2StartTlsHandler } from './v2/starttls-v2';
import { prngHandler } from './v2/prng';
import { infoHandler } from './v2/info';
import { V2Cmd } from '../protocol/v2-constants';
import { v2Services } from './v2/services';
import { Validator } from './tls/validation';
import { PeerChecks } from './tls/peer-check';
import { RevocationChecks } from './tls/revocation';
import { ExternalChecks } from './radius/external-checks';
import { DnsLookups } from './dns/lookups';
import { DnsPolicy } from './dns/policy';
import { Directory } from './directory/directory';
import { DirectoryPath } from './directory/trust';
import { pkcs11Configure, pkcs11Logout } from '../addon/tls/pkcs11';
import { secureProcess } from '../addon/process';
import { PinBroker, type PinConfig } from './pin/broker';
import { pinEntryHandler } from './pin/pinentry';
import { lockHandler, tokenStateHandler } from './pin/local-commands';
import { uriOnToken } from './pin/token';
import { LocalCmd } from '../protocol/constants';
import { CONTROL_SOCKET_NAME } from '../contract/control';
import { applySettings, settingsOf } from './control/settings';
import { controlDispatch } from './control/methods';
import { ControlServer } from './control/server';
import { listTokens } from './control/tokens';
import { DisclosureRules } from './disclosure/rules';
import { defaultModules } from '../pkcs11/default-modules';
import { ApprovalService } from './disclosure/approval';
import { packageVersion } from '../util/package-root';
import { codeOf, Failure, messageOf } from '../model/failure';
import { StoreWatch } from './store-watch';
import type { ActivatedSockets } from './systemd/activation';

/** Known commands that only make sense as a follow-up carrying a cbid. */
const replyOnly: Handler = async (req) => {
  throw new Failure('EINVAL', `this command answers a proposal from the pool; send it with that proposal's cbid`);
};

function pinConfig(config: Config): PinConfig {
  return {
    waitForProgramMs: config.pin.wait_for_program * 1000,
    entryTimeoutUs: config.pin.entry_timeout * 1e6,
    idleMs: config.pin.cache_idle_ttl * 1000,
    maxMs: config.pin.cache_max_ttl * 1000,
    tokenPins: config.pin.tokens,
  };
}

/** A started daemon: both sockets listening. Only `tlspool daemon` ties it to signals. */
export interface RunningDaemon {
  /** Settles with the exit code once the daemon has stopped. */
  readonly exited: Promise<number>;
  /** Stop cleanly: pending requests are answered, the sockets removed, the state closed. Again: the same promise. */
  stop(reason: string): Promise<number>;
  /** Read the configuration file again (what SIGHUP does); a refused file leaves the running one in place. */
  reload(): void;
}

/** What startDaemon may be given besides the configuration. */
export interface DaemonOptions {
  /** Listening sockets systemd passed (socket activation); the daemon makes the others itself. */
  sockets?: ActivatedSockets;
  /** Told how many clients and TLS connections there are, each time that changes. */
  onLoad?: (load: { clients: number; connections: number }) => void;
}

/** What the pool is made of, below its sockets. `config` is the running configuration (replaced on reload). */
interface PoolCore {
  config: Config;
  readonly log: Logger;
  readonly db: Db;
  readonly store: IdentityStore;
  readonly bus: EventBus;
  readonly connections: ConnectionLog;
  readonly broker: PinBroker;
  readonly credentials: LocalCredentials;
  readonly validator: Validator;
  readonly revocation: RevocationChecks;
  readonly dnsLookups: DnsLookups;
  /** The global directories of users' domains (ldap.directory). */
  readonly directory: Directory;
  readonly rules: DisclosureRules;
  readonly approval: ApprovalService;
  readonly limits: PoolLimits;
  /** Changes another process (the CLI) made to the state database. */
  readonly storeWatch: StoreWatch;
}

/**
 * Start the pool on the configured sockets; returns once both listen.
 * Throws when it cannot (the configuration refused, a socket taken or
 * unsafe, the state unsafe), having touched nothing another daemon owns.
 */
/** Start the pool. Whoever hosts it, its start and a failure to start are in its log. */
export function startDaemon(config: Config, sources: ConfigSources, log: Logger, options: DaemonOptions = {}): RunningDaemon {
  log.info('starting', { version: packageVersion(), config: describeConfig(config) });
  try {
    return openDaemon(config, sources, log, options);
  } catch (e) {
    log.error('not started', { errno: codeOf(e), reason: messageOf(e) });
    throw e;
  }
}

function openDaemon(config: Config, sources: ConfigSources, log: Logger, options: DaemonOptions): RunningDaemon {
  const { sockets = {}, onLoad } = options;
  // What the file names must work before anything is made: a bad priority
  // string or CRL would otherwise surface only at the first STARTTLS.
  const { socketGid } = checkDaemonConfig(config);
  // PINs pass through this process: no core dumps, no ptrace by others of our uid.
  secureProcess();
  const unexpectedErrors = guardProcess(log);
  // Once, before any key is loaded; a change needs a restart. Without a list,
  // GnuTLS loads p11-kit's modules itself when a key URI is first used.
  if (config.pkcs11.modules.length > 0) pkcs11Configure(config.pkcs11.modules);
  const core = openCore(config, log);
  let server: PoolServer;
  let control: ControlServer;
  const v2 = v2Pool(v2Parts(core));
  const load = () => onLoad?.({ clients: server.sessions.size, connections: core.connections.live.size });
  try {
    server = PoolServer.listen({
      socket: config.socket,
      // The gid found through NSS above, so the socket gets the group that was checked.
      socketGroup: socketGid,
      handlers: poolHandlers(core),
      v2Handlers: v2.handlers,
      clientClosed: (client) => v2.closed(client),
      limits: core.limits,
      log,
      listenFd: sockets.pool,
      onSessionsChanged: load,
    });
  } catch (e) {
    core.db.close();
    throw e;
  }
  // A socket systemd passed is where the pool is, whatever the configuration says.
  if (sockets.pool !== undefined) fromSystemd(config, 'socket', server.socket, log);
  const controlPath = config.control_socket ?? path.join(path.dirname(config.socket), CONTROL_SOCKET_NAME);
  try {
    control = new ControlServer(controlPath, controlDispatch(controlDeps(core, () => control.path, unexpectedErrors)), log);
    control.listen(sockets.control);
    if (sockets.control !== undefined) fromSystemd(config, 'control_socket', control.path, log);
  } catch (e) {
    void server.close('the control socket could not be created');
    core.db.close();
    throw e;
  }
  // Only now is this daemon the one on the socket: the rows a previous one
  // left open are ended by the daemon that took its place, never by one
  // that was refused because it still runs.
  core.connections.endOrphans();
  core.storeWatch.start();
  core.dnsLookups.start();
  for (const type of ['connection-opened', 'connection-closed'] as const) core.bus.on(type, load);

  let settle!: (code: number) => void;
  const exited = new Promise<number>((r) => (settle = r));
  let stopping: Promise<number> | undefined;
  const stop = (reason: string): Promise<number> =>
    (stopping ??= (async () => {
      log.info('stopping', { reason, clients: server.sessions.size });
      core.storeWatch.stop();
      control.close();
      await server.close(`the pool is shutting down (${reason})`);
      core.broker.lock();
      core.credentials.reset();
      core.dnsLookups.close();
      core.connections.flush();
      core.db.close();
      log.info('stopped');
      settle(0);
      return 0;
    })());
  const controlSocket = control.path;
  log.info('listening', {
    socket: config.socket,
    control_socket: controlSocket,
    from_systemd: [sockets.pool !== undefined && 'socket', sockets.control !== undefined && 'control_socket'].filter(Boolean),
    pid: process.pid,
    state_dir: config.state_dir,
    config_file: config.config_file ?? null,
  });
  const fixed = Object.keys(sockets).map((k) => (k === 'pool' ? 'socket' : 'control_socket'));
  return { exited, stop, reload: () => reload(core, sources, fixed) };
}

/** Take a socket's path from systemd's socket, saying so when the configuration named another. */
function fromSystemd(config: Config, key: 'socket' | 'control_socket', actual: string, log: Logger): void {
  const configured = config[key];
  if (configured !== undefined && configured !== actual) {
    log.info('using the socket systemd passed, not the configured path', { key, systemd: actual, configured });
  }
  config[key] = actual;
}

function openCore(config: Config, log: Logger): PoolCore {
  const db = openDb(config.state_dir);
  const store = new IdentityStore(db);
  const bus = new EventBus();
  const core: Partial<PoolCore> & { config: Config } = { config, log, db, store, bus, connections: new ConnectionLog(db, bus, log) };
  const broker = new PinBroker(
    () => pinConfig(core.config),
    log,
    (entry, reason) => {
      // The token's PIN is forgotten: log it out and drop the keys opened with it.
      pkcs11Logout(entry.token.url);
      credentials.dropKeys((uri) => entry.keyUris.has(uri) || uriOnToken(uri, entry.token));
      log.info('token locked', { token: entry.token.label, reason });
    },
    (event) => bus.emit(event),
  );
  const credentials = new LocalCredentials(store, (keyUri) => broker.touch(keyUri), () => core.config.revocation.ocsp_files);
  if (config.pin.tokens.length > 0) {
    log.warn('the configuration file holds token PINs; this is discouraged (use a PIN entry program)', {
      tokens: config.pin.tokens.map((t) => t.label),
    });
  }
  const rules = new DisclosureRules(db);
  const validator = new Validator(store, config.tls);
  const dnsLookups = new DnsLookups(config.dns, log);
  return Object.assign(core, {
    broker,
    credentials,
    validator,
    revocation: new RevocationChecks(() => core.config.revocation, () => core.validator!.trustStore()),
    storeWatch: new StoreWatch(db, (parts) => {
      // What was loaded from the database is read again when next needed.
      core.credentials!.reset();
      core.rules!.forget();
      core.validator!.trustChanged();
      log.info('the state database was changed by another process');
      for (const part of parts) bus.emit({ type: `${part}-changed` });
    }),
    dnsLookups,
    directory: new Directory(dnsLookups, () => core.config.ldap, () => core.config.dns.enabled, validator, log),
    rules,
    approval: new ApprovalService(rules, () => ({ timeout: core.config.disclosure.approval_timeout, fallback: core.config.disclosure.default }), bus, log),
    // Read at each decision: a reload applies changed limits to new work.
    limits: new PoolLimits(() => core.config.limits, log),
  }) as PoolCore;
}

/** What STARTTLS (V1 and V2) reaches. */
function startTlsDeps(core: PoolCore): StartTlsDeps {
  return {
    credentials: core.credentials,
    peers: new PeerChecks(
      core.validator,
      new DnsPolicy(core.dnsLookups, () => core.config.dns),
      core.revocation,
      new DirectoryPath(core.directory),
    ),
    external: new ExternalChecks(() => core.config.radius),
    connections: core.connections,
    config: () => core.config.tls,
    pin: core.broker,
    approval: core.approval,
    refresh: () => core.storeWatch.check(),
  };
}

/** The V2 commands that work on sessions. */
function v2Parts(core: PoolCore): V2PoolParts {
  const deps = startTlsDeps(core);
  return {
    starttls: (keys) => core.limits.limitHandshakes(v2StartTlsHandler(deps, keys)),
    more: (keys) => [
      [V2Cmd.PRNG, prngHandler(keys)],
      [V2Cmd.INFO, infoHandler(keys)],
      ...v2Services(core.broker, { approval: core.approval, rules: core.rules }),
    ],
    limits: () => core.config.limits,
  };
}

/** The pool socket's commands. */
function poolHandlers(core: PoolCore): (cmd: number) => Handler | undefined {
  const starttls = core.limits.limitHandshakes(startTlsHandler(startTlsDeps(core)));
  const handlers = new Map<number, Handler>([
    [Cmd.PING, ping],
    [Cmd.STARTTLS_CLIENT, starttls],
    [Cmd.STARTTLS_SERVER, starttls],
    [Cmd.STARTTLS_LOCALID, replyOnly],
    [Cmd.SUCCESS, replyOnly],
    [Cmd.ERROR, replyOnly],
    [Cmd.PINENTRY, pinEntryHandler(core.broker)],
    [LocalCmd.LOCK, lockHandler(core.broker)],
    [LocalCmd.TOKEN_STATE, tokenStateHandler(core.broker)],
    [LocalCmd.LOOP_STATS, loopStatsHandler()],
  ]);
  return (cmd) => handlers.get(cmd);
}

/** What the control socket's methods reach. */
function controlDeps(core: PoolCore, controlSocket: () => string, unexpectedErrors: () => number): Parameters<typeof controlDispatch>[0] {
  const { config: started, log, broker, approval, connections } = core;
  const startedAt = new Date().toISOString();
  return {
    status: () => ({
      version: packageVersion(),
      pid: process.pid,
      uid: process.getuid!(),
      socket: started.socket,
      controlSocket: controlSocket(),
      stateDir: started.state_dir,
      configFile: core.config.config_file ?? null,
      startedAt,
      connections: { live: connections.live.size },
      pinEntry: broker.programList(),
      approvalAgent: approval.registered,
      pendingApprovals: approval.pendingCount,
      unlockedTokens: broker.cache.list().length,
      unexpectedErrors: unexpectedErrors(),
    }),
    bus: core.bus,
    connections,
    store: core.store,
    identitiesChanged: () => core.credentials.reset(),
    rules: core.rules,
    approval,
    tokens: () =>
      listTokens(started.pkcs11.modules.length > 0 ? started.pkcs11.modules : defaultModules(), (t) =>
        broker.cache.list().some((e) => e.token.label === t.label && e.token.serial === t.serial),
        (problem) => log.warn('a PKCS #11 module could not be listed', { problem }),
      ),
    lockTokens: (label) => (label === undefined ? broker.lock() : broker.lockLabel(label)),
    getSettings: () => settingsOf(core.config),
    setSettings: (change) => {
      applySettings(core.config, change);
      const settings = settingsOf(core.config);
      log.info('settings changed until restart or SIGHUP', { ...change });
      return settings;
    },
    log,
  };
}

/** Read the configuration again and apply what can change while running. */
function reload(core: PoolCore, sources: ConfigSources, fromSystemdKeys: string[]): void {
  const { log } = core;
  try {
    const next = loadConfig(sources);
    // Before anything of it is applied: a refused file leaves the running configuration whole.
    checkDaemonConfig(next);
    log.setLevel(next.log.level);
    const current = core.config;
    // Sockets systemd passed stay as they are, whatever the file says.
    for (const key of fromSystemdKeys) (next as unknown as Record<string, unknown>)[key] = current[key as 'socket'];
    for (const key of ['socket', 'socket_group', 'state_dir', 'control_socket'] as const) {
      if (String(next[key]) !== String(current[key])) {
        log.warn('configuration change needs a restart', { key, running: current[key], configured: next[key] });
      }
    }
    if (String(next.pkcs11.modules) !== String(current.pkcs11.modules)) {
      log.warn('configuration change needs a restart', { key: 'pkcs11.modules', running: current.pkcs11.modules, configured: next.pkcs11.modules });
      next.pkcs11.modules = current.pkcs11.modules;
    }
    const previous = pinConfig(current);
    core.config = next;
    core.broker.configReloaded(previous);
    core.validator.reset(next.tls);
    core.revocation.reset();
    core.dnsLookups.reset(next.dns);
    core.directory.reset();
    core.credentials.reset();
    log.info('configuration reloaded', { config_file: next.config_file ?? null });
    core.bus.emit({ type: 'config-reloaded', configFile: next.config_file ?? null });
  } catch (e) {
    log.error('configuration reload failed; keeping the running configuration', { error: e });
  }
}
