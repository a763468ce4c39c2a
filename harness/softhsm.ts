/**
 * A real PKCS #11 token for tests: SoftHSM2 with its own configuration and
 * token directory in a temporary directory, so every test starts from
 * tokens it made itself. Tokens are initialised and keys imported with
 * SoftHSM's own tools (softhsm2-util, pkcs11-tool), as a person would.
 *
 * SoftHSM reads its configuration (SOFTHSM2_CONF) and finds its tokens when
 * a process initialises it: a process that uses it (the daemon, or the test
 * process through the addon) sees the tokens made before that moment.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so';
export const SO_PIN = '87654321';

export interface TokenKey {
  /** The token's label. */
  readonly token: string;
  /** The object label of the key (and of its certificate, when written). */
  readonly object: string;
  /** The CKA_ID, hex. */
  readonly id: string;
  /** pkcs11:token=…;object=…;type=private */
  readonly uri: string;
}

export interface SoftHsm {
  readonly dir: string;
  /** The softhsm2.conf to put in SOFTHSM2_CONF. */
  readonly conf: string;
  /** { SOFTHSM2_CONF } for a child process. */
  readonly env: NodeJS.ProcessEnv;
  /** Initialise a token in the first free slot. */
  initToken(label: string, pin: string): void;
  /** Import a PKCS #8 PEM private key file onto a token. */
  importKey(opts: { token: string; pin: string; keyPath: string; object: string; id: string }): TokenKey;
  /** Write a DER certificate onto a token (a public object). */
  writeCert(opts: { token: string; pin: string; der: Buffer; object: string; id: string }): void;
  cleanup(): void;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): string {
  try {
    return execFileSync(cmd, args, { env: { ...process.env, ...env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${err.stdout ?? ''}${err.stderr ?? ''}`);
  }
}

export function createSoftHsm(): SoftHsm {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlspool-softhsm-'));
  const tokens = path.join(dir, 'tokens');
  fs.mkdirSync(tokens);
  const conf = path.join(dir, 'softhsm2.conf');
  fs.writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
  const env = { SOFTHSM2_CONF: conf };
  let removed = false;
  const hsm: SoftHsm = {
    dir,
    conf,
    env,
    initToken(label, pin) {
      run('softhsm2-util', ['--init-token', '--free', '--label', label, '--pin', pin, '--so-pin', SO_PIN], env);
    },
    importKey({ token, pin, keyPath, object, id }) {
      run('softhsm2-util', ['--import', keyPath, '--token', token, '--label', object, '--id', id, '--pin', pin], env);
      return { token, object, id, uri: `pkcs11:token=${encodeURIComponent(token)};object=${encodeURIComponent(object)};type=private` };
    },
    writeCert({ token, pin, der, object, id }) {
      const file = path.join(dir, `${object}-${id}.der`);
      fs.writeFileSync(file, der);
      run(
        'pkcs11-tool',
        ['--module', SOFTHSM_MODULE, '--token-label', token, '--login', '--pin', pin, '--write-object', file, '--type', 'cert', '--id', id, '--label', object],
        env,
      );
    },
    cleanup() {
      if (removed) return;
      removed = true;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  process.once('exit', () => hsm.cleanup());
  return hsm;
}
