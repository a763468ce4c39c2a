import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import { LineCounter, parseDocument, stringify } from 'yaml';
import { type Config, ConfigError, configSchema, defaultPaths, describeConfig, loadConfig, placeOf } from '../../src/config';
import {
  bool,
  decodeDocument,
  describeValues,
  int,
  list,
  object,
  oneOf,
  optional,
  type Schema,
  str,
  union,
} from '../../src/config/schema';
import { closest, editDistance } from '../../src/config/suggest';
import { ROOT, tempDir } from '../../harness/daemon';

/** The radius section when the file has none: no server, so no external checks. */
const RADIUS_DEFAULTS = {
  authn: undefined,
  authz: undefined,
  timeout: 3,
  retransmits: 2,
  on_timeout: 'refuse',
  allow_skip_authn: true,
  allow_bypass_authz: false,
  nas_identifier: 'tlspool',
} as const;

const dirs: string[] = [];
after(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

/** A fresh directory that also serves as HOME, so no real user file is ever read. */
function home(): string {
  const d = tempDir('tlspool-config-');
  dirs.push(d);
  return d;
}

function write(dir: string, name: string, text: string): string {
  const file = path.join(dir, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  return file;
}

/** Load one YAML text as the --config file of an ordinary user. */
function loadText(text: string, env: NodeJS.ProcessEnv = {}): { config: Config; file: string; dir: string } {
  const dir = home();
  const file = write(dir, 'tlspool.yaml', text);
  return { config: loadConfig({ flags: { config: file }, env: { HOME: dir, ...env }, uid: 1000 }), file, dir };
}

/** The ConfigError that loading `text` throws; `file` is where it was written. */
function errorFor(text: string): { err: ConfigError; file: string } {
  const dir = home();
  const file = write(dir, 'tlspool.yaml', text);
  try {
    loadConfig({ flags: { config: file }, env: { HOME: dir }, uid: 1000 });
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return { err, file };
  }
  assert.fail('expected a ConfigError');
}

/** Decode YAML text with any schema, as a future section of the file would be. */
function decodeText<T>(schema: Schema<T>, text: string): T {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  return decodeDocument(schema, { source: { file: 'x.yaml', doc, lines }, base: '/base', env: { HOME: '/home/u' }, uid: 1000 });
}

describe('defaults', () => {
  test('root uses the system paths', () => {
    assert.deepEqual(defaultPaths({ HOME: '/root', XDG_RUNTIME_DIR: '/run/user/0' }, 0), {
      socket: '/var/run/tlspool.sock',
      state_dir: '/var/lib/tlspool',
      config_file: '/etc/tlspool/tlspool.yaml',
    });
  });

  // Assumes the machine has no /etc/tlspool/tlspool.yaml (true in CI and on a fresh checkout).
  test('root with no configuration file gets every default', () => {
    assert.deepEqual(loadConfig({ flags: {}, env: {}, uid: 0 }), {
      socket: '/var/run/tlspool.sock',
      socket_group: undefined,
      control_socket: undefined,
      state_dir: '/var/lib/tlspool',
      log: { level: 'info' },
      tls: { system_trust: true, trust_files: [], crl_files: [], validation_cache_ttl: 300, handshake_timeout: 60, priority: undefined },
      pin: { wait_for_program: 60, entry_timeout: 60, cache_idle_ttl: 600, cache_max_ttl: 7200, tokens: [] },
      dns: { enabled: true, trust_anchors: ['/usr/share/dns/root.key'], forwarders: [], stubs: {}, timeout: 2, unreachable: 'pkix' },
      revocation: { crldp: false, unreachable: 'soft', fetch_timeout: 3, max_crl_size: 1048576, retry_after: 300, ocsp_files: {} },
      ldap: { directory: false, directories: {}, timeout: 3, filter: '(&(uid={user})(|(objectClass=pkiUser)(objectClass=inetOrgPerson)))', cache_ttl: 300, ca_file: undefined },
      disclosure: { approval_timeout: 60, default: 'allow' },
      pkcs11: { modules: [] },
      limits: { handshakes: 1024, handshakes_per_uid: 512, connections: 1024, connections_per_uid: 256, detached_sessions: 256, detached_lifetime: 3600 },
      radius: RADIUS_DEFAULTS,
      config_file: undefined,
    });
  });

  test('a user gets the XDG base directories', () => {
    const h = home();
    const env = { HOME: h, XDG_RUNTIME_DIR: `${h}/run`, XDG_STATE_HOME: `${h}/state`, XDG_CONFIG_HOME: `${h}/conf` };
    assert.deepEqual(defaultPaths(env, 1000), {
      socket: `${h}/run/tlspool.sock`,
      state_dir: `${h}/state/tlspool`,
      config_file: `${h}/conf/tlspool/tlspool.yaml`,
    });
    assert.deepEqual(loadConfig({ flags: {}, env, uid: 1000 }), {
      socket: `${h}/run/tlspool.sock`,
      socket_group: undefined,
      control_socket: undefined,
      state_dir: `${h}/state/tlspool`,
      log: { level: 'info' },
      tls: { system_trust: true, trust_files: [], crl_files: [], validation_cache_ttl: 300, handshake_timeout: 60, priority: undefined },
      pin: { wait_for_program: 60, entry_timeout: 60, cache_idle_ttl: 600, cache_max_ttl: 7200, tokens: [] },
      dns: { enabled: true, trust_anchors: ['/usr/share/dns/root.key'], forwarders: [], stubs: {}, timeout: 2, unreachable: 'pkix' },
      revocation: { crldp: false, unreachable: 'soft', fetch_timeout: 3, max_crl_size: 1048576, retry_after: 300, ocsp_files: {} },
      ldap: { directory: false, directories: {}, timeout: 3, filter: '(&(uid={user})(|(objectClass=pkiUser)(objectClass=inetOrgPerson)))', cache_ttl: 300, ca_file: undefined },
      disclosure: { approval_timeout: 60, default: 'allow' },
      pkcs11: { modules: [] },
      limits: { handshakes: 1024, handshakes_per_uid: 512, connections: 1024, connections_per_uid: 256, detached_sessions: 256, detached_lifetime: 3600 },
      radius: RADIUS_DEFAULTS,
      config_file: undefined,
    });
  });

  test('a user without XDG variables gets /tmp/tlspool-<uid> and paths under HOME', () => {
    const h = home();
    assert.deepEqual(defaultPaths({ HOME: h }, 1234), {
      socket: '/tmp/tlspool-1234/tlspool.sock',
      state_dir: `${h}/.local/state/tlspool`,
      config_file: `${h}/.config/tlspool/tlspool.yaml`,
    });
  });

  test('relative XDG variables are ignored, as the XDG spec says', () => {
    const paths = defaultPaths({ HOME: '/home/u', XDG_RUNTIME_DIR: 'run', XDG_STATE_HOME: '', XDG_CONFIG_HOME: 'c' }, 1000);
    assert.deepEqual(paths, {
      socket: '/tmp/tlspool-1000/tlspool.sock',
      state_dir: '/home/u/.local/state/tlspool',
      config_file: '/home/u/.config/tlspool/tlspool.yaml',
    });
  });

  test('the default configuration file is read when it exists', () => {
    const h = home();
    const file = write(h, '.config/tlspool/tlspool.yaml', 'log:\n  level: debug\n');
    const config = loadConfig({ flags: {}, env: { HOME: h }, uid: 1000 });
    assert.equal(config.config_file, file);
    assert.equal(config.log.level, 'debug');
  });

  test('an empty file, a comment-only file and empty values all mean defaults', () => {
    for (const text of ['', '# nothing here\n', 'socket:\nlog:\n', 'log: ~\nsocket_group:\n']) {
      const { config, file, dir } = loadText(text);
      assert.deepEqual(config, {
        socket: '/tmp/tlspool-1000/tlspool.sock',
        socket_group: undefined,
        control_socket: undefined,
        state_dir: `${dir}/.local/state/tlspool`,
        log: { level: 'info' },
        tls: { system_trust: true, trust_files: [], crl_files: [], validation_cache_ttl: 300, handshake_timeout: 60, priority: undefined },
        pin: { wait_for_program: 60, entry_timeout: 60, cache_idle_ttl: 600, cache_max_ttl: 7200, tokens: [] },
        dns: { enabled: true, trust_anchors: ['/usr/share/dns/root.key'], forwarders: [], stubs: {}, timeout: 2, unreachable: 'pkix' },
        revocation: { crldp: false, unreachable: 'soft', fetch_timeout: 3, max_crl_size: 1048576, retry_after: 300, ocsp_files: {} },
        ldap: { directory: false, directories: {}, timeout: 3, filter: '(&(uid={user})(|(objectClass=pkiUser)(objectClass=inetOrgPerson)))', cache_ttl: 300, ca_file: undefined },
        disclosure: { approval_timeout: 60, default: 'allow' },
        pkcs11: { modules: [] },
        limits: { handshakes: 1024, handshakes_per_uid: 512, connections: 1024, connections_per_uid: 256, detached_sessions: 256, detached_lifetime: 3600 },
        radius: RADIUS_DEFAULTS,
        config_file: file,
      });
    }
  });

  test('without HOME, a default that needs it says which variable or flag to set', () => {
    assert.throws(() => loadConfig({ flags: { config: '/dev/null' }, env: {}, uid: 1000 }), {
      code: 'EINVAL',
      message: 'cannot place the state directory: neither XDG_STATE_HOME nor HOME is set (or use --state-dir)',
    });
    // With the state directory given, HOME is not needed at all.
    const config = loadConfig({ flags: { config: '/dev/null', state_dir: '/s' }, env: {}, uid: 1000 });
    assert.equal(config.state_dir, '/s');
  });
});

describe('precedence: flags > environment > file > defaults', () => {
  test('each level beats the next for socket and state_dir', () => {
    const h = home();
    const file = write(h, 'tlspool.yaml', 'socket: /file.sock\nstate_dir: /file-state\n');
    const base = { HOME: h, TLSPOOL_CONFIG: file };
    const envVars = { ...base, TLSPOOL_SOCKET: '/env.sock', TLSPOOL_STATE_DIR: '/env-state' };

    const fromDefaults = loadConfig({ flags: {}, env: { HOME: h }, uid: 1000 });
    assert.equal(fromDefaults.socket, '/tmp/tlspool-1000/tlspool.sock');

    const fromFile = loadConfig({ flags: {}, env: base, uid: 1000 });
    assert.deepEqual([fromFile.socket, fromFile.state_dir], ['/file.sock', '/file-state']);

    const fromEnv = loadConfig({ flags: {}, env: envVars, uid: 1000 });
    assert.deepEqual([fromEnv.socket, fromEnv.state_dir], ['/env.sock', '/env-state']);

    const fromFlags = loadConfig({ flags: { socket: '/flag.sock', state_dir: '/flag-state' }, env: envVars, uid: 1000 });
    assert.deepEqual([fromFlags.socket, fromFlags.state_dir], ['/flag.sock', '/flag-state']);
    assert.equal(fromFlags.config_file, file);
  });

  test('--config beats TLSPOOL_CONFIG, which beats the default file', () => {
    const h = home();
    write(h, '.config/tlspool/tlspool.yaml', 'log: {level: warn}\n');
    const fromEnv = write(h, 'env.yaml', 'log: {level: error}\n');
    const fromFlag = write(h, 'flag.yaml', 'log: {level: debug}\n');
    const load = (flags: { config?: string }, env: NodeJS.ProcessEnv) => loadConfig({ flags, env: { HOME: h, ...env }, uid: 1000 });
    assert.equal(load({}, {}).log.level, 'warn');
    assert.equal(load({}, { TLSPOOL_CONFIG: fromEnv }).log.level, 'error');
    assert.equal(load({ config: fromFlag }, { TLSPOOL_CONFIG: fromEnv }).log.level, 'debug');
  });

  test('an empty environment variable counts as unset', () => {
    const { config } = loadText('socket: /file.sock\n', { TLSPOOL_SOCKET: '' });
    assert.equal(config.socket, '/file.sock');
  });

  test('the file is still checked where a flag overrides it', () => {
    const h = home();
    const file = write(h, 'tlspool.yaml', 'socket: 42\n');
    assert.throws(() => loadConfig({ flags: { config: file, socket: '/flag.sock' }, env: { HOME: h }, uid: 1000 }), {
      message: `${file}:1:1: socket: must be a path (got 42; put it in quotes if it is text)`,
    });
  });
});

describe('paths', () => {
  test('~/ expands to HOME in the file, in flags and in the environment', () => {
    const { config, dir } = loadText('socket: ~/tlspool.sock\nstate_dir: ~/state\n');
    assert.equal(config.socket, `${dir}/tlspool.sock`);
    assert.equal(config.state_dir, `${dir}/state`);

    const h = home();
    write(h, 'tlspool.yaml', '');
    const viaFlags = loadConfig({ flags: { socket: '~/f.sock', config: '~/tlspool.yaml' }, env: { HOME: h, TLSPOOL_STATE_DIR: '~/s' }, uid: 1000 });
    assert.equal(viaFlags.socket, `${h}/f.sock`);
    assert.equal(viaFlags.state_dir, `${h}/s`);
    assert.equal(viaFlags.config_file, `${h}/tlspool.yaml`);
  });

  test('relative paths in the file are taken from its directory; in flags, from the working directory', () => {
    const { config, dir } = loadText('socket: run/pool.sock\nstate_dir: ../state\n', { TLSPOOL_SOCKET: '' });
    assert.equal(config.socket, `${dir}/run/pool.sock`);
    assert.equal(config.state_dir, path.resolve(dir, '../state'));
    const fromFlag = loadText('', { TLSPOOL_SOCKET: 'env.sock' }).config;
    assert.equal(fromFlag.socket, path.resolve(process.cwd(), 'env.sock'));
  });

  test('~user/ is refused rather than guessed', () => {
    const { err, file } = errorFor('state_dir: ~alice/state\n');
    assert.equal(err.message, `${file}:1:1: state_dir: only ~/ is expanded; write the full path instead of "~alice/state"`);
  });
});

describe('socket_group', () => {
  test('a group name', () => {
    assert.equal(loadText('socket_group: tlspool\n').config.socket_group, 'tlspool');
  });

  test('a numeric gid', () => {
    assert.equal(loadText('socket_group: 1000\n').config.socket_group, 1000);
  });

  test('anything else says what each form must be', () => {
    const list = errorFor('socket: /s\nsocket_group: [a]\n');
    assert.equal(list.err.message, `${list.file}:2:1: socket_group: must be a group name or a numeric gid (got a list)`);
    const negative = errorFor('socket_group: -1\n');
    assert.equal(negative.err.message, `${negative.file}:1:1: socket_group: must be a numeric gid (got -1)`);
    const spaced = errorFor('socket_group: "tls pool"\n');
    assert.equal(spaced.err.message, `${spaced.file}:1:1: socket_group: must be a group name (got "tls pool")`);
  });
});

describe('errors name the file, line, column and key', () => {
  test('a bad enum value', () => {
    const { err, file } = errorFor('# the pool\nsocket: /s\n\nlog:\n  level: verbose\n');
    assert.equal(err.message, `${file}:5:3: log.level: must be one of debug, info, warn, error (got "verbose")`);
    assert.deepEqual([err.code, err.file, err.line, err.column, err.key], ['EINVAL', file, 5, 3, 'log.level']);
    assert.equal(err.name, 'ConfigError');
  });

  test('a near miss in an enum gets a suggestion', () => {
    const { err, file } = errorFor('log:\n  level: inf\n');
    assert.equal(err.message, `${file}:2:3: log.level: must be one of debug, info, warn, error (got "inf"; did you mean info?)`);
  });

  test('a wrong type says what was expected', () => {
    const { err, file } = errorFor('socket: /s\nstate_dir: [a, b]\n');
    assert.equal(err.message, `${file}:2:1: state_dir: must be a path (got a list)`);
    const section = errorFor('log: debug\n');
    assert.equal(section.err.message, `${section.file}:1:1: log: must be a section of "key: value" lines (got "debug")`);
  });

  test('an unknown key with a close known key suggests it', () => {
    const top = errorFor('socket: /s\nstate-dir: /x\n');
    assert.equal(top.err.message, `${top.file}:2:1: state-dir: unknown key (did you mean state_dir?)`);
    assert.equal(top.err.key, 'state-dir');
    const nested = errorFor('log:\n  levle: info\n');
    assert.equal(nested.err.message, `${nested.file}:2:3: log.levle: unknown key (did you mean level?)`);
  });

  test('an unknown key with nothing close lists the known keys', () => {
    const { err, file } = errorFor('ciphers: all\n');
    assert.equal(err.message, `${file}:1:1: ciphers: unknown key (known keys here: socket, socket_group, control_socket, state_dir, log, tls, dns, revocation, ldap, pin, disclosure, pkcs11, limits, radius)`);
  });

  test('a YAML syntax error gives file:line:column', () => {
    const { err, file } = errorFor('socket: /s\nlog: {level: info\n');
    assert.match(err.message, new RegExp(`^${file}:3:1: invalid YAML: `));
    assert.deepEqual([err.line, err.column, err.key], [3, 1, undefined]);
  });

  test('a duplicate key is a YAML error at the second one', () => {
    const { err, file } = errorFor('socket: /a\nsocket: /b\n');
    assert.equal(err.message, `${file}:2:1: invalid YAML: Map keys must be unique`);
  });

  test('a file that is not a mapping says so', () => {
    const { err, file } = errorFor('- socket\n');
    assert.equal(err.message, `${file}:1:1: must be a section of "key: value" lines (got a list)`);
  });

  test('an explicitly named file that does not exist is an error', () => {
    const h = home();
    const missing = path.join(h, 'missing.yaml');
    assert.throws(() => loadConfig({ flags: { config: missing }, env: { HOME: h }, uid: 1000 }), {
      code: 'EINVAL',
      file: missing,
      message: `${missing}: cannot read the configuration file named by --config: no such file`,
    });
    assert.throws(() => loadConfig({ flags: {}, env: { HOME: h, TLSPOOL_CONFIG: missing }, uid: 1000 }), {
      message: `${missing}: cannot read the configuration file named by TLSPOOL_CONFIG: no such file`,
    });
  });

  test('a bad flag or variable is named instead of a file', () => {
    assert.throws(() => loadConfig({ flags: { socket: '' }, env: {}, uid: 0 }), {
      key: 'socket',
      message: '--socket: must not be empty',
    });
    assert.throws(() => loadConfig({ flags: { config: '/dev/null' }, env: { TLSPOOL_STATE_DIR: '~x' }, uid: 0 }), {
      key: 'state_dir',
      message: 'TLSPOOL_STATE_DIR: only ~/ is expanded; write the full path instead of "~x"',
    });
  });
});

describe('placeOf: where a loaded configuration wrote a key (for checks after loading)', () => {
  test('a key and a list item, in the place the schema reports its own errors at', () => {
    const { config, file } = loadText('tls:\n  priority: NORMAL\n  crl_files:\n    - /a.crl\n    - /b.crl\n  trust_files: [/ca.pem]\n');
    assert.deepEqual(placeOf(config, 'tls.priority'), { file, line: 2, column: 3, key: 'tls.priority' });
    assert.deepEqual(placeOf(config, 'tls.crl_files[1]'), { file, line: 5, column: 7, key: 'tls.crl_files[1]' });
    assert.deepEqual(placeOf(config, 'tls.trust_files[0]'), { file, line: 6, column: 17, key: 'tls.trust_files[0]' });
  });

  test('through an alias, the item where the anchor wrote it', () => {
    const { config, file } = loadText('tls:\n  trust_files: &files\n    - /a.pem\n    - /b.pem\n  crl_files: *files\n');
    assert.deepEqual(placeOf(config, 'tls.crl_files[1]'), { file, line: 4, column: 7, key: 'tls.crl_files[1]' });
  });

  test('a default names the file only; a flag names itself; a Config made by hand names the key', () => {
    const { config, file } = loadText('log:\n  level: info\n');
    assert.deepEqual(placeOf(config, 'socket_group'), { file, key: 'socket_group' });
    const dir = home();
    const flagged = loadConfig({ flags: { socket: 's.sock', config: write(dir, 'tlspool.yaml', 'socket: /x.sock\n') }, env: { HOME: dir }, uid: 1000 });
    assert.deepEqual(placeOf(flagged, 'socket'), { origin: '--socket', key: 'socket' });
    assert.deepEqual(placeOf({ ...config }, 'tls.priority'), { key: 'tls.priority' });
  });
});

describe('YAML features', () => {
  test('anchors and aliases are followed', () => {
    const { config } = loadText('socket: &p /pool.sock\nstate_dir: *p\n');
    assert.equal(config.state_dir, '/pool.sock');
  });

  test('an unknown tag is an error, not a silent string', () => {
    const { err, file } = errorFor('socket: !secret /s\n');
    assert.match(err.message, new RegExp(`^${file}:1:9: invalid YAML: `));
  });
});

test('limits: each is a positive integer, and a typo is named', () => {
  const { config } = loadText('limits:\n  handshakes_per_uid: 8\n  connections: 16\n');
  assert.deepEqual(config.limits, { handshakes: 1024, handshakes_per_uid: 8, connections: 16, connections_per_uid: 256, detached_sessions: 256, detached_lifetime: 3600 });
  const zero = errorFor('limits:\n  handshakes: 0\n');
  assert.match(zero.err.message, /:2:3: limits\.handshakes: must be an integer from 1 to 1000000 \(got 0\)$/);
  const typo = errorFor('limits:\n  handshake_per_uid: 8\n');
  assert.match(typo.err.message, /limits\.handshake_per_uid: unknown key \(did you mean handshakes_per_uid\?\)$/);
});

describe('describeConfig', () => {
  test('names the file and every key', () => {
    const { config, file } = loadText('socket: /run/pool.sock\nsocket_group: tlspool\nstate_dir: /var/lib/pool\n');
    assert.equal(
      describeConfig(config),
      [
        `configuration: ${file}`,
        '  socket: /run/pool.sock',
        '  socket_group: tlspool',
        '  control_socket: (not set)',
        '  state_dir: /var/lib/pool',
        '  log.level: info',
        '  tls.system_trust: true',
        '  tls.trust_files: (none)',
        '  tls.crl_files: (none)',
        '  tls.validation_cache_ttl: 300',
        '  tls.handshake_timeout: 60',
        '  tls.priority: (not set)',
        '  dns.enabled: true',
        '  dns.trust_anchors: /usr/share/dns/root.key',
        '  dns.forwarders: (none)',
        '  dns.stubs: {}',
        '  dns.timeout: 2',
        '  dns.unreachable: pkix',
        '  revocation.crldp: false',
        '  revocation.unreachable: soft',
        '  revocation.fetch_timeout: 3',
        '  revocation.max_crl_size: 1048576',
        '  revocation.retry_after: 300',
        '  revocation.ocsp_files: {}',
        '  ldap.directory: false',
        '  ldap.directories: {}',
        '  ldap.timeout: 3',
        '  ldap.filter: (&(uid={user})(|(objectClass=pkiUser)(objectClass=inetOrgPerson)))',
        '  ldap.cache_ttl: 300',
        '  ldap.ca_file: (not set)',
        '  pin.wait_for_program: 60',
        '  pin.entry_timeout: 60',
        '  pin.cache_idle_ttl: 600',
        '  pin.cache_max_ttl: 7200',
        '  pin.tokens: (none)',
        '  disclosure.approval_timeout: 60',
        "  disclosure.default: allow",
        '  pkcs11.modules: (none)',
        '  limits.handshakes: 1024',
        '  limits.handshakes_per_uid: 512',
        '  limits.connections: 1024',
        '  limits.connections_per_uid: 256',
        '  limits.detached_sessions: 256',
        '  limits.detached_lifetime: 3600',
        '  radius.authn: (not set)',
        '  radius.authz: (not set)',
        '  radius.timeout: 3',
        '  radius.retransmits: 2',
        '  radius.on_timeout: refuse',
        '  radius.allow_skip_authn: true',
        '  radius.allow_bypass_authz: false',
        '  radius.nas_identifier: tlspool',
      ].join('\n'),
    );
  });

  test('says when only defaults apply', () => {
    const config = loadConfig({ flags: {}, env: { HOME: home() }, uid: 1000 });
    assert.match(describeConfig(config), /^configuration: built-in defaults \(no file\)\n {2}socket: .*\n {2}socket_group: \(not set\)\n/);
  });
});

/** True only when T and U are the same type. */
type Same<T, U> = (<V>() => V extends T ? 1 : 2) extends <V>() => V extends U ? 1 : 2 ? true : false;

test('the Config type is what the schema accepts, named as in the file', () => {
  // A compile-time check: this file does not build if the inferred type drifts.
  const agrees: Same<
    Config,
    {
      socket: string;
      socket_group?: string | number;
      control_socket?: string;
      state_dir: string;
      log: { level: 'debug' | 'info' | 'warn' | 'error' };
      tls: {
        system_trust: boolean;
        trust_files: string[];
        crl_files: string[];
        validation_cache_ttl: number;
        handshake_timeout: number;
        priority?: string;
      };
      dns: {
        enabled: boolean;
        trust_anchors: string[];
        forwarders: string[];
        stubs: Record<string, string[]>;
        timeout: number;
        unreachable: 'pkix' | 'refuse';
      };
      revocation: {
        crldp: boolean;
        unreachable: 'soft' | 'hard';
        fetch_timeout: number;
        max_crl_size: number;
        retry_after: number;
        ocsp_files: Record<string, string>;
      };
      ldap: { directory: boolean; directories: Record<string, string>; timeout: number; filter: string; cache_ttl: number; ca_file?: string };
      pin: { wait_for_program: number; entry_timeout: number; cache_idle_ttl: number; cache_max_ttl: number; tokens: { label: string; pin: string }[] };
      disclosure: { approval_timeout: number; default: 'allow' | 'deny' };
      pkcs11: { modules: string[] };
      limits: { handshakes: number; handshakes_per_uid: number; connections: number; connections_per_uid: number; detached_sessions: number; detached_lifetime: number };
      radius: {
        authn?: { server: string; secret_file: string };
        authz?: { server: string; secret_file: string };
        timeout: number;
        retransmits: number;
        on_timeout: 'refuse' | 'allow';
        allow_skip_authn: boolean;
        allow_bypass_authz: boolean;
        nas_identifier: string;
      };
      config_file?: string;
    }
  > = true;
  assert.ok(agrees);
});

test('docs/configuration.md documents every key', () => {
  const docs = fs.readFileSync(path.join(ROOT, 'docs', 'configuration.md'), 'utf8');
  const config = loadConfig({ flags: {}, env: { HOME: '/home/u' }, uid: 1000 });
  for (const [key] of describeValues(configSchema, config)) assert.ok(docs.includes(`\`${key}\``), `docs/configuration.md does not mention \`${key}\``);
});

test('a valid configuration written as YAML loads back to the same values', () => {
  const segment = fc.stringMatching(/^[A-Za-z0-9._-]{1,12}$/).filter((s) => s !== '.' && s !== '..');
  const absPath = fc.array(segment, { minLength: 1, maxLength: 4 }).map((parts) => `/${parts.join('/')}`);
  const group = fc.oneof(fc.stringMatching(/^[a-z_][a-z0-9_-]{0,15}$/), fc.integer({ min: 0, max: 2 ** 32 - 2 }));
  const level = fc.constantFrom('debug', 'info', 'warn', 'error');
  fc.assert(
    fc.property(absPath, fc.option(group, { nil: undefined }), absPath, level, (socket, socket_group, state_dir, lvl) => {
      const want = {
        socket,
        socket_group,
        control_socket: undefined,
        state_dir,
        log: { level: lvl },
        tls: { system_trust: true, trust_files: [], crl_files: [], validation_cache_ttl: 300, handshake_timeout: 60, priority: undefined },
        pin: { wait_for_program: 60, entry_timeout: 60, cache_idle_ttl: 600, cache_max_ttl: 7200, tokens: [] },
        dns: { enabled: true, trust_anchors: ['/usr/share/dns/root.key'], forwarders: [], stubs: {}, timeout: 2, unreachable: 'pkix' },
        revocation: { crldp: false, unreachable: 'soft', fetch_timeout: 3, max_crl_size: 1048576, retry_after: 300, ocsp_files: {} },
        ldap: { directory: false, directories: {}, timeout: 3, filter: '(&(uid={user})(|(objectClass=pkiUser)(objectClass=inetOrgPerson)))', cache_ttl: 300, ca_file: undefined },
        disclosure: { approval_timeout: 60, default: 'allow' },
        pkcs11: { modules: [] },
        limits: { handshakes: 1024, handshakes_per_uid: 512, connections: 1024, connections_per_uid: 256, detached_sessions: 256, detached_lifetime: 3600 },
        radius: RADIUS_DEFAULTS,
      };
      const { config, file } = loadText(stringify(want));
      assert.deepEqual(config, { ...want, config_file: file });
    }),
    { numRuns: 50 },
  );
});

describe('schema combinators (for sections to come)', () => {
  const schema = object({
    port: int({ min: 1, max: 65535, default: 853 }),
    verify: bool({ default: true }),
    ciphers: list(oneOf(['aes', 'chacha'])),
    peer: optional(object({ name: str() })),
    id: union(int(), str(), { default: 'none' }),
  });

  test('defaults fill an empty document, and types follow the schema', () => {
    const v = decodeText(schema, '');
    // Before deepEqual, which as an assertion function narrows `v` to the literal.
    const typed: Same<typeof v, { port: number; verify: boolean; ciphers: Array<'aes' | 'chacha'>; peer?: { name: string }; id: number | string }> = true;
    assert.ok(typed);
    assert.deepEqual(v, { port: 853, verify: true, ciphers: [], peer: undefined, id: 'none' });
  });

  test('list items are named by index and line', () => {
    assert.deepEqual(decodeText(schema, 'ciphers: [aes, chacha]\n').ciphers, ['aes', 'chacha']);
    assert.throws(() => decodeText(schema, 'ciphers:\n  - aes\n  - rc4\n'), {
      message: 'x.yaml:3:5: ciphers[1]: must be one of aes, chacha (got "rc4")',
    });
  });

  test('integers are range-checked and booleans are only true or false', () => {
    assert.throws(() => decodeText(schema, 'port: 0\n'), { message: 'x.yaml:1:1: port: must be an integer from 1 to 65535 (got 0)' });
    assert.throws(() => decodeText(schema, 'port: 1.5\n'), { message: 'x.yaml:1:1: port: must be an integer from 1 to 65535 (got 1.5)' });
    assert.throws(() => decodeText(schema, 'verify: yes\n'), { message: 'x.yaml:1:1: verify: must be true or false (got "yes")' });
  });

  test('a required key inside an optional section is reported missing', () => {
    assert.deepEqual(decodeText(schema, 'peer: {name: a}\n').peer, { name: 'a' });
    assert.throws(() => decodeText(schema, 'peer:\n  nmae: a\n'), { message: 'x.yaml:2:3: peer.nmae: unknown key (did you mean name?)' });
    assert.throws(() => decodeText(schema, 'verify: true\npeer: {}\n'), { message: 'x.yaml:2:1: peer.name: missing (must be a string)' });
  });

  test('a number where text is expected suggests quoting', () => {
    assert.throws(() => decodeText(object({ name: str() }), 'name: 1234\n'), {
      message: 'x.yaml:1:1: name: must be a string (got 1234; put it in quotes if it is text)',
    });
  });
});

describe('suggestions', () => {
  test('edit distance counts a swap of neighbours as one edit', () => {
    assert.equal(editDistance('level', 'level'), 0);
    assert.equal(editDistance('levle', 'level'), 1);
    assert.equal(editDistance('socket', 'sockt'), 1);
    assert.equal(editDistance('', 'abc'), 3);
    assert.equal(editDistance('kitten', 'sitting'), 3);
  });

  test('only close names are suggested, ignoring case', () => {
    const keys = ['socket', 'socket_group', 'state_dir', 'log'];
    assert.equal(closest('stateDir', keys), 'state_dir');
    assert.equal(closest('sockt', keys), 'socket');
    assert.equal(closest('tls', keys), undefined);
  });

  test('edit distance is a symmetric metric', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), (a, b) => {
        const d = editDistance(a, b);
        assert.equal(d, editDistance(b, a));
        assert.equal(d === 0, a === b);
        assert.ok(d <= Math.max(a.length, b.length));
      }),
    );
  });
});
