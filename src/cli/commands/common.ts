/** Options shared by every subcommand that talks to, or is, the pool. */
import * as path from 'node:path';
import { type Config, loadConfig } from '../../config';
import { CONTROL_SOCKET_NAME } from '../../contract/control';

export const poolOptions = {
  socket: { type: 'string' },
  config: { type: 'string' },
} as const;

export const poolHelp = {
  socket: 'pool socket (default: $TLSPOOL_SOCKET, the config file, then $XDG_RUNTIME_DIR/tlspool.sock or /var/run/tlspool.sock for root)',
  config: 'configuration file (default: $TLSPOOL_CONFIG, then ~/.config/tlspool/tlspool.yaml or /etc/tlspool/tlspool.yaml for root)',
};

/** The configuration a client command uses to find the pool. */
export function clientConfig(values: { socket?: string; config?: string }): Config {
  return loadConfig({ flags: { socket: values.socket, config: values.config }, env: process.env });
}

/** Where the daemon's control socket is: control_socket, else beside the pool socket (as the daemon puts it). */
export function controlSocketPath(config: Config): string {
  return config.control_socket ?? path.join(path.dirname(config.socket), CONTROL_SOCKET_NAME);
}
