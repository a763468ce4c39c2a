/**
 * Which PKCS #11 modules to use when none are configured: p11-kit's proxy,
 * which loads whatever p11-kit is configured with. Kept apart from
 * modules.ts so that the daemon can ask without loading pkcs11js, which
 * must not run in the daemon's process (see daemon/control/token-probe.ts).
 */
import * as fs from 'node:fs';

const PROXY_CANDIDATES = [
  '/usr/lib/x86_64-linux-gnu/p11-kit-proxy.so',
  '/usr/lib/aarch64-linux-gnu/p11-kit-proxy.so',
  '/usr/lib64/p11-kit-proxy.so',
  '/usr/lib/p11-kit-proxy.so',
];

export function defaultModules(): string[] {
  const found = PROXY_CANDIDATES.find((p) => fs.existsSync(p));
  if (!found) throw new Error('p11-kit-proxy.so not found; install p11-kit or name a module with --pkcs11-module');
  return [found];
}
