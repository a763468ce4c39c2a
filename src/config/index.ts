/**
 * The daemon's configuration: one human-edited YAML file, checked against the
 * schema in keys.ts, with environment variables and flags on top.
 * Precedence: flags > environment > file > defaults.
 * Pure apart from reading the file: no logging, no exit; every problem is a
 * thrown ConfigError whose message names the place to fix. What the text
 * alone cannot show (does GnuTLS take the priority string, do the trust
 * files load, does the group exist) the daemon checks with checks.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { ConfigError, type ConfigErrorPlace } from './error';
import { type Config, configSchema } from './keys';
import { currentUid, defaultPath, resolvePath, whyUnreadable } from './paths';
import { decodeDocument, describeValues, type Override, placeOfKey } from './schema';

export { ConfigError, type ConfigErrorPlace } from './error';
export { type Config, configSchema } from './keys';
export { type DefaultPaths, defaultPaths } from './paths';

export interface ConfigSources {
  flags: { socket?: string; state_dir?: string; config?: string; control_socket?: string };
  env: NodeJS.ProcessEnv;
  /** Whose default paths to use; default process.getuid(). */
  uid?: number;
}

/** Keys a flag or an environment variable may set, and what each is called there. */
const OVERRIDABLE = [
  { key: 'socket', option: '--socket', variable: 'TLSPOOL_SOCKET' },
  { key: 'state_dir', option: '--state-dir', variable: 'TLSPOOL_STATE_DIR' },
  { key: 'control_socket', option: '--control-socket', variable: 'TLSPOOL_CONTROL_SOCKET' },
] as const;

export function loadConfig(src: ConfigSources): Config {
  const { env } = src;
  const uid = src.uid ?? currentUid();
  // Flags and environment are written relative to where the command was typed.
  const cwd = process.cwd();

  const named = namedConfigFile(src.flags.config, env, cwd);
  const file = named?.file ?? defaultPath.config_file(env, uid);
  const text = readConfigFile(file, named?.origin);

  const overrides = new Map<string, Override>();
  for (const { key, option, variable } of OVERRIDABLE) {
    const flag = src.flags[key];
    // An empty variable counts as unset, as shells and most tools treat it.
    if (flag !== undefined) overrides.set(key, { value: flag, origin: option, base: cwd });
    else if (env[variable]) overrides.set(key, { value: env[variable], origin: variable, base: cwd });
  }

  const lines = new LineCounter();
  const doc = parseDocument(text ?? '', { lineCounter: lines, prettyErrors: false });
  // Warnings (an unknown !tag) are errors too: the file would not mean what its author thinks.
  const bad = doc.errors[0] ?? doc.warnings[0];
  if (bad) {
    const at = lines.linePos(bad.pos[0]);
    throw new ConfigError(`invalid YAML: ${bad.message.split('\n')[0]}`, { file, line: at.line, column: at.col });
  }

  const source = { file, doc, lines };
  const values = decodeDocument(configSchema, {
    source,
    // Relative paths in the file are taken from its own directory, wherever the daemon was started.
    base: path.dirname(file),
    env,
    uid,
    overrides,
  });
  const config: Config = { ...values, config_file: text === undefined ? undefined : file };
  places.set(config, (key) => {
    const override = overrides.get(key);
    if (override !== undefined) return { origin: override.origin, key };
    return placeOfKey(source, key) ?? { file, key };
  });
  return config;
}

/** How to find where each loaded configuration wrote a key; kept beside it so Config stays plain values. */
const places = new WeakMap<Config, (key: string) => ConfigErrorPlace>();

/**
 * Where `config` got `key` (`tls.crl_files[1]`): the file, line and column,
 * or the flag or variable, for a ConfigError about a problem found after
 * loading (checks.ts). Just the key for a Config that loadConfig did not make.
 */
export function placeOf(config: Config, key: string): ConfigErrorPlace {
  return places.get(config)?.(key) ?? { key };
}

/** A short summary for the log at start: where the values came from, and every key. */
export function describeConfig(config: Config): string {
  const rows = describeValues(configSchema, config).map(([key, value]) =>
    // PINs from the file are never shown, only which tokens have one.
    key === 'pin.tokens' ? `  ${key}: ${config.pin.tokens.length === 0 ? '(none)' : `PINs for ${config.pin.tokens.map((t) => t.label).join(', ')} (not shown)`}` : `  ${key}: ${value}`,
  );
  return [`configuration: ${config.config_file ?? 'built-in defaults (no file)'}`, ...rows].join('\n');
}

/** The file named by --config or TLSPOOL_CONFIG, which then must exist. */
function namedConfigFile(flag: string | undefined, env: NodeJS.ProcessEnv, cwd: string) {
  const [written, origin] =
    flag !== undefined ? [flag, '--config'] : env.TLSPOOL_CONFIG ? [env.TLSPOOL_CONFIG, 'TLSPOOL_CONFIG'] : [];
  if (written === undefined) return undefined;
  const file = resolvePath(written, cwd, env);
  if (typeof file !== 'string') throw new ConfigError(file.problem, { origin, key: 'config' });
  return { file, origin };
}

/** The file's text, or undefined when the default file is absent (defaults apply then). */
function readConfigFile(file: string, namedBy: string | undefined): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (namedBy === undefined && (code === 'ENOENT' || code === 'ENOTDIR')) return undefined;
    const why = whyUnreadable(e);
    const what = namedBy ? `the configuration file named by ${namedBy}` : 'the configuration file';
    throw new ConfigError(`cannot read ${what}: ${why}`, { file });
  }
}
