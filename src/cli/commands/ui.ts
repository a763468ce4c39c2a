import * as path from 'node:path';
import { DesktopAgent } from '../../desktop/agent/agent';
import { type HostChoice, hostOrAttach } from '../../desktop/agent/host';
import { secureProcess } from '../../addon/process';
import { WebUi } from '../../desktop/web/web-server';
import { packageRoot } from '../../util/package-root';
import { type CommandSpec, helpText, parse, UsageError } from '../args';
import { poolHelp, poolOptions } from './common';

const options = {
  ...poolOptions,
  web: { type: 'boolean' },
  port: { type: 'string' },
  'host-daemon': { type: 'boolean' },
  attach: { type: 'boolean' },
  'state-dir': { type: 'string' },
  'pkcs11-module': { type: 'string', multiple: true },
  'renderer-dir': { type: 'string' },
  'log-rows': { type: 'string' },
} as const;

export const spec = {
  name: 'ui',
  usage: 'ui --web [--port N] [--host-daemon|--attach] [--socket PATH] [--config FILE] [--log-rows N] [--renderer-dir DIR]',
  summary:
    'Serve the TLS Pool desktop UI to a browser on 127.0.0.1, and be its agent: the PIN\n' +
    'entry program and approval agent of the pool. Prints one line on stdout: the URL to\n' +
    'open (it carries a random access token; without it every request gets 403) and\n' +
    'whether it runs a daemon in this process or attached to a running one. When no\n' +
    'daemon answers on the socket it starts one here, unless --attach. SIGINT or SIGTERM\n' +
    'stop the server (and a daemon it started). The Electron tray app is `npm start`.',
  options,
  help: {
    web: 'serve the UI over HTTP for a browser (the only front end this command has)',
    port: 'port on 127.0.0.1 (default 0: a free one)',
    'host-daemon': 'run the daemon in this process; fail if one already answers on the socket',
    attach: 'never start a daemon: wait for one on the socket (the UI shows it as down until then)',
    ...poolHelp,
    'state-dir': 'state directory of a daemon started here (as for tlspool daemon)',
    'pkcs11-module': 'a PKCS #11 module for a daemon started here (repeatable)',
    'renderer-dir': 'serve the UI from DIR (default: dist/ui of this installation, made by npm run setup)',
    'log-rows': 'connections the page gets at once, most recent first (default 1000, at most 100000; older ones with "Load older")',
  },
} satisfies CommandSpec<typeof options>;

export async function ui(argv: string[]): Promise<number> {
  const args = parse(spec, argv);
  if (!args) {
    process.stdout.write(helpText(spec));
    return 0;
  }
  const v = args.values;
  if (!v.web) throw new UsageError('tlspool ui: say --web (the browser UI); the tray app starts with npm start (see tlspool ui --help)');
  if (v['host-daemon'] && v.attach) throw new UsageError('tlspool ui: --host-daemon and --attach exclude each other');
  const port = v.port === undefined ? 0 : Number(v.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`tlspool ui: --port must be 0..65535, not ${v.port}`);
  const logRows = v['log-rows'] === undefined ? 1000 : Number(v['log-rows']);
  if (!Number.isInteger(logRows) || logRows < 1 || logRows > 100_000) throw new UsageError(`tlspool ui: --log-rows must be 1..100000, not ${v['log-rows']}`);
  const choice: HostChoice = v['host-daemon'] ? 'host' : v.attach ? 'attach' : 'auto';
  // Typed PINs pass through this process (the agent): no core dumps, no ptrace by others of our uid.
  secureProcess();

  const host = await hostOrAttach({
    sources: { flags: { socket: v.socket, state_dir: v['state-dir'], config: v.config }, env: process.env },
    choice,
    pkcs11Modules: v['pkcs11-module'],
  });
  const agent = new DesktopAgent({ socket: host.config.socket, mode: host.mode, connectionLimit: logRows });
  let web: WebUi;
  try {
    web = await WebUi.start({ agent, rendererDir: v['renderer-dir'] ?? path.join(packageRoot(), 'dist', 'ui'), port });
  } catch (e) {
    await host.stop();
    throw e;
  }
  agent.start();
  const how = host.mode === 'hosted' ? `hosting the daemon in this process: ${host.reason}` : `attached: ${host.reason}`;
  process.stdout.write(`${web.url}  (${how})\n`);

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = async (code: number) => {
      if (stopping) return;
      stopping = true;
      agent.stop();
      await web.close();
      await host.stop();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(code);
    };
    const onSignal = () => void stop(0);
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    // A hosted daemon that stops on its own (a fatal error) takes the UI down with it.
    host.exited?.then(
      (code) => void stop(code),
      (e) => {
        process.stderr.write(`tlspool ui: the daemon in this process failed: ${(e as Error).message}\n`);
        void stop(1);
      },
    );
  });
}
