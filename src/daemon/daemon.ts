/**
 * The daemon's life: state directory, pool socket, signals. Runs until
 * SIGTERM or SIGINT, reloads its configuration on SIGHUP.
 */
import * as path from 'node:path';
import { type Config, type ConfigSources, loadConfig } from '../config';
import { checkDaemonConfig } from '../config/checks';
import { EventBus } from '../events/bus';
import { changeWatcher, openDb } from '../store/db';
import { IdentityStore } from '../store/identities';
import type { Logger } from '../log/logger';
import { guardProcess } from '../log/process-guard';
import { Cmd } from '../protocol/constants';
import { loopStatsHandler } from './server/loop-stats';
import { ping } from './server/ping';
import { PoolLimits } from './server/limits';
import { PoolServer } from './server/pool-server';
import { type Handler, ProtocolError } from './server/request';
import { ConnectionLog } from '../store/connection-log';
import { LocalCredentials } from './tls/local-credentials';
import { startTlsHandler } from './tls/starttls';
import { Validator } from './tls/validation';
import { pkcs11Configure, pkcs11Logout, secureProcess } from '../addon/tls';
import { PinBroker, type PinConfig } from './pin/broker';
import { pinEntryHandler } from './pin/pinentry';
import { lockHandler, tokenStateHandler } from './pin/local-commands';
import { uriOnToken } from './pin/token';
import { LocalCmd } from '../protocol/constants';
import { CONTROL_SOCKET_NAME } from '../contract/control';
import { type Settings } from '../model/settings';
import { controlDispatch } from './control/methods';
import { ControlServer } from './control/server';
import { listTokens } from './control/tokens';
import { DisclosureRules } from './disclosure/rules';
import { defaultModules } from '../pkcs11/modules';
import { ApprovalService } from './disclosure/approval';
import { packageVersion } from '../util/package-root';

/** Known commands that only make sense as a follow-up carrying a cbid. */
const replyOnly: Handler = async (req) => {
  throw new ProtocolError('EINVAL', `this command answers a proposal from the pool; send it with that proposal's cbid`);
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

export async function runDaemon(config: Config, sources: ConfigSources, log: Logger): Promise<number> {
  // What the file names must work before anything is made: a bad priority
  // string or CRL would otherwise surface only at the first STARTTLS.
  const { socketGid } = checkDaemonConfig(config);
  // PINs pass through this process: no core dumps, no ptrace by others of our uid.
  secureProcess();
  const unexpectedErrors = guardProcess(log);
  // Once, before any key is loaded; a change needs a restart. Without a list,
  // GnuTLS loads p11-kit's modules itself when a key URI is first used.
  if (config.pkcs11.modules.length > 0) pkcs11Configure(config.pkcs11.modules);
  const db = openDb(config.state_dir);
  const store = new IdentityStore(db);
  const bus = new EventBus();
  const connections = new ConnectionLog(db, bus, log);
  let current = config;
  // eslint-disable-next-line prefer-const -- the broker and the credentials refer to each other
  let credentials: LocalCredentials;
  const broker = new PinBroker(
    () => pinConfig(current),
    log,
    (entry, reason) => {
      // The token's PIN is forgotten: log it out and drop the keys opened with it.
      pkcs11Logout(entry.token.url);
      credentials.dropKeys((uri) => entry.keyUris.has(uri) || uriOnToken(uri, entry.token));
      log.info('token locked', { token: entry.token.label, reason });
    },
    (event) => bus.emit(event),
  );
  credentials = new LocalCredentials(store, (keyUri) => broker.touch(keyUri));
  if (config.pin.tokens.length > 0) {
    log.warn('the configuration file holds token PINs; this is discouraged (use a PIN entry program)', {
      tokens: config.pin.tokens.map((t) => t.label),
    });
  }
  const validator = new Validator(store, current.tls);
  const storeChanged = changeWatcher(db);
  const rules = new DisclosureRules(db);
  const approval = new ApprovalService(
    rules,
    () => ({ timeout: current.disclosure.approval_timeout, fallback: current.disclosure.default }),
    bus,
    log,
  );
  const starttls = startTlsHandler({
    credentials,
    validator,
    connections,
    config: () => current.tls,
    pin: broker,
    approval,
    refresh: () => {
      if (!storeChanged()) return;
      credentials.reset();
      rules.forget();
      validator.trustChanged();
    },
  });
  // Read at each decision: SIGHUP applies changed limits to new work.
  const limits = new PoolLimits(() => current.limits, log);
  const limitedStartTls = limits.limitHandshakes(starttls);
  const handlers = new Map<number, Handler>([
    [Cmd.PING, ping],
    [Cmd.STARTTLS_CLIENT, limitedStartTls],
    [Cmd.STARTTLS_SERVER, limitedStartTls],
    [Cmd.STARTTLS_LOCALID, replyOnly],
    [Cmd.SUCCESS, replyOnly],
    [Cmd.ERROR, replyOnly],
    [Cmd.PINENTRY, pinEntryHandler(broker)],
    [LocalCmd.LOCK, lockHandler(broker)],
    [LocalCmd.TOKEN_STATE, tokenStateHandler(broker)],
    [LocalCmd.LOOP_STATS, loopStatsHandler()],
  ]);
  const server = PoolServer.listen({
    socket: config.socket,
    // The gid found through NSS above, so the socket gets the group that was checked.
    socketGroup: socketGid,
    handlers: (cmd) => handlers.get(cmd),
    limits,
    log,
  });
  const controlSocket = config.control_socket ?? path.join(path.dirname(config.socket), CONTROL_SOCKET_NAME);
  const startedAt = new Date().toISOString();
  const control = new ControlServer(
    controlSocket,
    controlDispatch({
      status: () => ({
        version: packageVersion(),
        pid: process.pid,
        uid: process.getuid!(),
        socket: config.socket,
        controlSocket,
        stateDir: config.state_dir,
        configFile: current.config_file ?? null,
        startedAt,
        connections: { live: connections.live.size },
        pinEntry: broker.programList(),
        approvalAgent: approval.registered,
        pendingApprovals: approval.pendingCount,
        unlockedTokens: broker.cache.list().length,
        unexpectedErrors: unexpectedErrors(),
      }),
      bus,
      connections,
      store,
      identitiesChanged: () => credentials.reset(),
      rules,
      approval,
      tokens: () =>
        listTokens(config.pkcs11.modules.length > 0 ? config.pkcs11.modules : defaultModules(), (t) =>
          broker.cache.list().some((e) => e.token.label === t.label && e.token.serial === t.serial),
          (problem) => log.warn('a PKCS #11 module could not be listed', { problem }),
        ),
      lockTokens: (label) => (label === undefined ? broker.lock() : broker.lockLabel(label)),
      getSettings: () => settingsOf(current),
      setSettings: (change) => {
        applySettings(current, change);
        const settings = settingsOf(current);
        log.info('settings changed until restart or SIGHUP', { ...change });
        return settings;
      },
      log,
    }),
    log,
  );
  try {
    control.listen();
  } catch (e) {
    void server.close('the control socket could not be created');
    throw e;
  }
  // Signal handlers before the line that says the pool is up: a signal sent
  // as soon as a supervisor sees it must find them (SIGHUP's default ends the process).
  let resolve!: (code: number) => void;
  const exited = new Promise<number>((r) => (resolve = r));
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('stopping', { signal, clients: server.sessions.size });
    control.close();
    void server.close(`the pool is shutting down (${signal})`).then(() => {
      for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.removeAllListeners(s);
      broker.lock();
      credentials.reset();
      connections.flush();
      db.close();
      log.info('stopped');
      resolve(0);
    });
  };
  const reload = () => {
    try {
      const next = loadConfig(sources);
      // Before anything of it is applied: a refused file leaves the running configuration whole.
      checkDaemonConfig(next);
      log.setLevel(next.log.level);
      for (const key of ['socket', 'socket_group', 'state_dir', 'control_socket'] as const) {
        if (String(next[key]) !== String(current[key])) {
          log.warn('configuration change needs a restart', { key, running: current[key], configured: next[key] });
        }
      }
      if (String(next.pkcs11.modules) !== String(config.pkcs11.modules)) {
        log.warn('configuration change needs a restart', { key: 'pkcs11.modules', running: config.pkcs11.modules, configured: next.pkcs11.modules });
        next.pkcs11.modules = config.pkcs11.modules;
      }
      const previous = pinConfig(current);
      current = next;
      broker.configReloaded(previous);
      validator.reset(next.tls);
      credentials.reset();
      log.info('configuration reloaded', { config_file: next.config_file ?? null });
      bus.emit({ type: 'config-reloaded', configFile: next.config_file ?? null });
    } catch (e) {
      log.error('configuration reload failed; keeping the running configuration', { error: e });
    }
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', reload);
  log.info('listening', {
    socket: config.socket,
    control_socket: controlSocket,
    pid: process.pid,
    state_dir: config.state_dir,
    config_file: config.config_file ?? null,
  });

  return exited;
}

/** The runtime-changeable settings, as the control API names them. */
function settingsOf(c: Config): Settings {
  return {
    pinEntryTimeout: c.pin.entry_timeout,
    pinCacheIdleTtl: c.pin.cache_idle_ttl,
    pinCacheMaxTtl: c.pin.cache_max_ttl,
    validationCacheTtl: c.tls.validation_cache_ttl,
    approvalTimeout: c.disclosure.approval_timeout,
    defaultDisclosure: c.disclosure.default,
  };
}

/** Change the running configuration in place: the broker, validator and approval read it from there. */
function applySettings(c: Config, s: Partial<Settings>): void {
  if (s.pinEntryTimeout !== undefined) c.pin.entry_timeout = s.pinEntryTimeout;
  if (s.pinCacheIdleTtl !== undefined) c.pin.cache_idle_ttl = s.pinCacheIdleTtl;
  if (s.pinCacheMaxTtl !== undefined) c.pin.cache_max_ttl = s.pinCacheMaxTtl;
  if (s.validationCacheTtl !== undefined) c.tls.validation_cache_ttl = s.validationCacheTtl;
  if (s.approvalTimeout !== undefined) c.disclosure.approval_timeout = s.approvalTimeout;
  if (s.defaultDisclosure !== undefined) c.disclosure.default = s.defaultDisclosure;
}
