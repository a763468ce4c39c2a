import * as path from 'node:path';
import { loadConfig, type ConfigSources } from '../../config';
import { type RunningDaemon, startDaemon } from '../../daemon/daemon';
import { socketsFromSystemd } from '../../daemon/systemd/activation';
import { Notifier } from '../../daemon/systemd/notify';
import { createLogger } from '../../log/logger';
import { type CommandSpec, helpText, parse } from '../args';
import { poolHelp, poolOptions } from './common';

export const spec = {
  name: 'daemon',
  usage: 'daemon [--socket PATH] [--control-socket PATH] [--state-dir DIR] [--config FILE] [--pkcs11-module PATH]...',
  summary:
    'Run the TLS Pool in the foreground, logging JSON lines to stderr. SIGTERM or SIGINT\n' +
    'stops it cleanly (pending requests are answered, the socket is removed); SIGHUP\n' +
    'reloads the configuration file. Started by systemd, it takes the sockets named\n' +
    '"tlspool" and "control" that systemd passes (socket activation; their files are\n' +
    "then systemd's and stay), and tells systemd when it is ready (Type=notify).",
  options: { ...poolOptions, 'control-socket': { type: 'string' }, 'state-dir': { type: 'string' }, 'pkcs11-module': { type: 'string', multiple: true } },
  help: {
    ...poolHelp,
    'control-socket': 'control socket for the desktop app and tools (default: $TLSPOOL_CONTROL_SOCKET, the config file, then tlspool-control.sock beside the pool socket)',
    'state-dir': 'state directory (default: $TLSPOOL_STATE_DIR, the config file, then ~/.local/state/tlspool or /var/lib/tlspool)',
    'pkcs11-module': "a PKCS #11 module to load (repeatable); replaces pkcs11.modules (default: p11-kit's configuration)",
  },
} satisfies CommandSpec<typeof poolOptions & { 'control-socket': { type: 'string' }; 'state-dir': { type: 'string' }; 'pkcs11-module': { type: 'string'; multiple: true } }>;

export async function daemon(argv: string[]): Promise<number> {
  const args = parse(spec, argv);
  if (!args) {
    process.stdout.write(helpText(spec));
    return 0;
  }
  const sources: ConfigSources = {
    flags: { socket: args.values.socket, control_socket: args.values['control-socket'], state_dir: args.values['state-dir'], config: args.values.config },
    env: process.env,
  };
  const config = loadConfig(sources);
  const modules = args.values['pkcs11-module'];
  if (modules && modules.length > 0) config.pkcs11.modules = modules.map((m) => path.resolve(m));
  const log = createLogger(config.log.level);
  // Read once, and removed from the environment: no child takes them for its own.
  const sockets = socketsFromSystemd(process.env);
  const notifier = Notifier.fromEnv(process.env, log);
  // The handlers go in before the pool says it listens: a supervisor may
  // signal it the moment it does (and SIGHUP's default ends the process).
  let running: RunningDaemon | undefined;
  let stopEarly: NodeJS.Signals | undefined;
  const onStop = (signal: NodeJS.Signals) => {
    if (!running) return void (stopEarly = signal);
    notifier.stopping(`stopping (${signal})`);
    void running.stop(signal);
  };
  const onReload = () => running?.reload();
  process.on('SIGTERM', onStop);
  process.on('SIGINT', onStop);
  process.on('SIGHUP', onReload);
  try {
    const status = (load: { clients: number; connections: number }) =>
      `serving ${load.clients} client${load.clients === 1 ? '' : 's'}, ${load.connections} TLS connection${load.connections === 1 ? '' : 's'}`;
    running = startDaemon(config, sources, log, { sockets, onLoad: (load) => notifier.setStatus(status(load)) });
    // Both sockets listen: a client that connects now is answered.
    notifier.ready(status({ clients: 0, connections: 0 }));
    if (stopEarly) onStop(stopEarly);
    return await running.exited;
  } finally {
    process.off('SIGTERM', onStop);
    process.off('SIGINT', onStop);
    process.off('SIGHUP', onReload);
  }
}
