/**
 * What the running pool knows of a token, for `tlspool tokens`: whether it
 * sees the token at all, and whether it holds it unlocked. The daemon's
 * modules and environment need not be this command's (SOFTHSM2_CONF, the
 * p11-kit configuration, `pkcs11.modules`, `--pkcs11-module` given to one and
 * not the other), so a token listed here can be one the daemon cannot use:
 * the control socket's `tokens.list` says which tokens the daemon sees, and
 * TOKEN_STATE on the pool socket whether it holds one unlocked. Without the
 * control socket (another user's daemon), only the latter is known.
 */
import { ControlClient } from '../client/control-client';
import { PoolClient } from '../client/pool-client';
import type { Config } from '../config';
import { controlSocketPath } from './commands/common';
import type { TokenInfo } from '../model/tokens';

export interface TokenFacts {
  readonly label: string;
  readonly manufacturer: string;
  readonly model: string;
  readonly serial: string;
}

export const NOT_RUNNING = 'unknown (the pool is not running)';
export const NOT_VISIBLE = 'not visible to the running daemon';

export interface PoolTokens {
  /** "unlocked", "locked", NOT_VISIBLE or NOT_RUNNING. */
  state(t: TokenFacts): Promise<string>;
  close(): void;
}

const same = (a: TokenFacts, b: TokenFacts) => a.label === b.label && a.serial === b.serial && a.manufacturer === b.manufacturer && a.model === b.model;

export async function poolTokens(config: Config): Promise<PoolTokens> {
  let pool: PoolClient;
  try {
    pool = PoolClient.connect(config.socket);
    await pool.ping();
  } catch {
    return { state: async () => NOT_RUNNING, close: () => {} };
  }
  let seen: TokenInfo[] | undefined;
  try {
    const control = await ControlClient.connect(controlSocketPath(config));
    try {
      seen = await control.call('tokens.list', {});
    } finally {
      control.close();
    }
  } catch {
    seen = undefined; // not ours to ask, or the daemon could not list: say what TOKEN_STATE says
  }
  return {
    async state(t) {
      if (seen && !seen.some((s) => same(s, t))) return NOT_VISIBLE;
      return (await pool.tokenUnlocked(t)) ? 'unlocked' : 'locked';
    },
    close: () => pool.close(),
  };
}
