/**
 * "If no daemon answers on the configured socket, start one in this
 * process, else attach." Both `tlspool ui --web` and the Electron shell use
 * this; afterwards they reach the daemon only through its sockets, hosted or
 * not (docs/architecture.md), so the agent does not care which it was.
 */
import * as path from 'node:path';
import { PoolClient } from '../../client/pool-client';
import { type Config, type ConfigSources, loadConfig } from '../../config';
import { startDaemon } from '../../daemon/daemon';
import { createLogger, type Logger } from '../../log/logger';
import { Failure } from '../../model/failure';

export type HostChoice = 'auto' | 'host' | 'attach';

export interface HostOptions {
  sources: ConfigSources;
  /** auto: host when nobody answers; host: insist on hosting; attach: never host. */
  choice?: HostChoice;
  /** PKCS #11 modules for a hosted daemon (like `tlspool daemon --pkcs11-module`). */
  pkcs11Modules?: string[];
  /** The hosted daemon's log (default: JSON lines on stderr at the configured level). */
  log?: Logger;
}

export interface DaemonHost {
  readonly mode: 'hosted' | 'attached';
  readonly config: Config;
  /** Why it hosts or attaches, for a person. */
  readonly reason: string;
  /** Hosted: settles with the daemon's exit code once it stopped. Attached: null. */
  readonly exited: Promise<number> | null;
  /** Stop the hosted daemon cleanly (nothing when attached). */
  stop(): Promise<void>;
}

/** Whether a daemon answers PING on `socket` within `withinMs`. */
export async function poolAnswers(socket: string, withinMs = 3000): Promise<boolean> {
  let client: PoolClient;
  try {
    client = PoolClient.connect(socket);
  } catch {
    return false;
  }
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), withinMs)));
    return await Promise.race([client.ping().then(() => true, () => false), timeout]);
  } finally {
    clearTimeout(timer);
    client.close();
  }
}

export async function hostOrAttach(opts: HostOptions): Promise<DaemonHost> {
  const config = loadConfig(opts.sources);
  if (opts.pkcs11Modules && opts.pkcs11Modules.length > 0) config.pkcs11.modules = opts.pkcs11Modules.map((m) => path.resolve(m));
  const choice = opts.choice ?? 'auto';
  const answers = await poolAnswers(config.socket);
  if (answers || choice === 'attach') {
    if (answers && choice === 'host') {
      throw new Failure('EADDRINUSE', `a TLS pool already answers at ${config.socket}; drop --host-daemon to attach to it`);
    }
    const reason = answers
      ? `a TLS pool answers at ${config.socket}`
      : `no TLS pool answers at ${config.socket} yet; attaching anyway (--attach), and waiting for one`;
    return { mode: 'attached', config, reason, exited: null, stop: async () => {} };
  }
  const log = opts.log ?? createLogger(config.log.level);
  // Throws when the pool cannot listen (or its state or configuration is refused).
  const daemon = startDaemon(config, opts.sources, log);
  if (!(await poolAnswers(config.socket))) {
    await daemon.stop('it does not answer on its own socket');
    throw new Failure('EIO', `the daemon started in this process does not answer at ${config.socket}; see its log above`);
  }
  return {
    mode: 'hosted',
    config,
    reason: `no TLS pool answered at ${config.socket}, so this process runs one`,
    exited: daemon.exited,
    stop: async () => {
      await daemon.stop('the desktop agent is stopping');
    },
  };
}
