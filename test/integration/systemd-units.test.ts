/**
 * The systemd units of contrib/systemd as `tlspool install-units` writes
 * them, checked with systemd's own `systemd-analyze` (verify, and security
 * for the hardening of the system unit), and held to what the daemon takes
 * (the FileDescriptorName= of each socket, and its mode).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FD_NAMES } from '../../src/daemon/systemd/activation';
import { CLI, ROOT, tempDir } from '../../harness/daemon';

function tlspool(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 30000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const UNITS = ['tlspool-control.socket', 'tlspool.service', 'tlspool.socket'];

/** `systemd-analyze verify` on the units in `dir`, with the man pages of this build for Documentation=. */
function verify(dir: string, user: boolean) {
  const r = spawnSync('systemd-analyze', [...(user ? ['--user'] : []), 'verify', ...UNITS.map((u) => path.join(dir, u))], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, MANPATH: path.join(ROOT, 'dist', 'man'), XDG_RUNTIME_DIR: dir },
  });
  // What it says about other units of this machine (their own deprecations) is not about ours.
  const ours = (r.stdout + r.stderr).split('\n').filter((l) => l !== '' && !(l.startsWith('/') && !l.startsWith(dir)));
  return { code: r.status, output: ours.map((l) => `${l}\n`).join('') };
}

/** key=value lines of a unit, by key (a key may repeat). */
function unitKeys(file: string): Map<string, string[]> {
  const keys = new Map<string, string[]>();
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m) keys.set(m[1]!, [...(keys.get(m[1]!) ?? []), m[2]!]);
  }
  return keys;
}

test('install-units --user writes the units where systemd --user reads them, and says what to run', () => {
  const config = tempDir('tlspool-units-');
  try {
    const r = tlspool(['install-units', '--user'], { XDG_CONFIG_HOME: config });
    assert.equal(r.code, 0, r.stderr);
    const dir = path.join(config, 'systemd', 'user');
    assert.equal(r.stdout, [...UNITS.map((u) => `wrote ${path.join(dir, u)}`), 'next: systemctl --user daemon-reload && systemctl --user enable --now tlspool.socket tlspool-control.socket', ''].join('\n'));
    const exec = unitKeys(path.join(dir, 'tlspool.service')).get('ExecStart');
    assert.deepEqual(exec, [`${process.execPath} ${CLI} daemon`], 'ExecStart runs this installation');

    const v = verify(dir, true);
    assert.equal(v.output, '', 'systemd-analyze verify has nothing to say');
    assert.equal(v.code, 0);

    // Again: nothing changes, and it says so.
    const again = tlspool(['install-units', '--user'], { XDG_CONFIG_HOME: config });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /^unchanged .*tlspool-control\.socket$/m);

    // A unit someone edited is not overwritten without --force, and nothing else is written then.
    fs.appendFileSync(path.join(dir, 'tlspool.service'), '# mine\n');
    fs.rmSync(path.join(dir, 'tlspool.socket'));
    const refused = tlspool(['install-units', '--user'], { XDG_CONFIG_HOME: config });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^tlspool install-units: .*tlspool\.service exists with other contents; compare, then run again with --force to replace\n$/);
    assert.ok(!fs.existsSync(path.join(dir, 'tlspool.socket')), 'a refusal writes nothing');
    const forced = tlspool(['install-units', '--user', '--force'], { XDG_CONFIG_HOME: config });
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stdout, /^replaced .*tlspool\.service$/m);
    assert.match(forced.stdout, /^wrote .*tlspool\.socket$/m);
    assert.ok(!fs.readFileSync(path.join(dir, 'tlspool.service'), 'utf8').includes('# mine'));
  } finally {
    fs.rmSync(config, { recursive: true, force: true });
  }
});

test('install-units --system --root writes the units, the sysusers file and a configuration it then keeps', () => {
  const root = tempDir('tlspool-units-');
  try {
    const r = tlspool(['install-units', '--system', '--root', root]);
    assert.equal(r.code, 0, r.stderr);
    const dir = path.join(root, 'etc', 'systemd', 'system');
    for (const u of UNITS) assert.match(r.stdout, new RegExp(`^wrote ${path.join(dir, u)}$`, 'm'));
    assert.match(r.stdout, new RegExp(`^wrote ${root}/etc/sysusers.d/tlspool.conf$`, 'm'));
    assert.match(r.stdout, /^next \(on the system below that root\): systemd-sysusers && systemctl daemon-reload && systemctl enable --now tlspool\.socket tlspool-control\.socket$/m);

    const v = verify(dir, false);
    assert.equal(v.output, '', 'systemd-analyze verify has nothing to say');
    assert.equal(v.code, 0);

    // The configuration is the administrator's once it is there.
    const yaml = path.join(root, 'etc', 'tlspool', 'tlspool.yaml');
    fs.writeFileSync(yaml, 'socket_group: tlspool\nlog:\n  level: debug\n');
    const again = tlspool(['install-units', '--system', '--root', root]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /^kept .*tlspool\.yaml \(it exists; yours is kept\)$/m);
    assert.match(fs.readFileSync(yaml, 'utf8'), /level: debug/);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('the system unit is hardened: systemd-analyze security rates it OK, and MemoryDenyWriteExecute is left off for V8', () => {
  const root = tempDir('tlspool-units-');
  try {
    assert.equal(tlspool(['install-units', '--system', '--root', root]).code, 0);
    const service = path.join(root, 'etc', 'systemd', 'system', 'tlspool.service');
    const r = spawnSync('systemd-analyze', ['security', '--offline=yes', '--no-pager', service], { encoding: 'utf8', cwd: path.dirname(service) });
    const level = /Overall exposure level for tlspool\.service: ([\d.]+)/.exec(r.stdout);
    assert.ok(level, r.stdout + r.stderr);
    assert.ok(Number(level[1]) <= 2.0, `exposure ${level[1]} (at most 2.0)`);
    const keys = unitKeys(service);
    for (const k of ['ProtectSystem', 'ProtectHome', 'PrivateTmp', 'NoNewPrivileges', 'RestrictAddressFamilies']) assert.ok(keys.has(k), `${k} is set`);
    assert.deepEqual(keys.get('RestrictAddressFamilies'), ['AF_UNIX AF_INET AF_INET6']);
    assert.ok(!keys.has('MemoryDenyWriteExecute'), "V8's JIT needs W+X pages");
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('the units name their sockets as the daemon takes them, with the modes it accepts', () => {
  for (const kind of ['user', 'system']) {
    const dir = path.join(ROOT, 'contrib', 'systemd', kind);
    const pool = unitKeys(path.join(dir, 'tlspool.socket'));
    const control = unitKeys(path.join(dir, 'tlspool-control.socket'));
    assert.deepEqual(pool.get('FileDescriptorName'), [FD_NAMES.pool]);
    assert.deepEqual(control.get('FileDescriptorName'), [FD_NAMES.control]);
    assert.deepEqual(control.get('SocketMode'), ['0600'], `${kind}: the control socket is the daemon user's`);
    const service = unitKeys(path.join(dir, 'tlspool.service'));
    assert.deepEqual(service.get('Type'), ['notify']);
    assert.deepEqual(service.get('Sockets'), ['tlspool.socket tlspool-control.socket']);
  }
  assert.deepEqual(unitKeys(path.join(ROOT, 'contrib', 'systemd', 'user', 'tlspool.socket')).get('SocketMode'), ['0600']);
  const system = unitKeys(path.join(ROOT, 'contrib', 'systemd', 'system', 'tlspool.socket'));
  assert.deepEqual(system.get('SocketMode'), ['0660']);
  assert.deepEqual(system.get('SocketGroup'), ['tlspool']);
  // The daemon accepts a group-writable socket only for socket_group: the configuration it is installed with says so.
  assert.match(fs.readFileSync(path.join(ROOT, 'contrib', 'systemd', 'system', 'tlspool.yaml'), 'utf8'), /^socket_group: tlspool$/m);
});

test('install-units usage errors exit 2', () => {
  for (const args of [[], ['--user', '--system'], ['--user', '--root', '/tmp']]) {
    const r = tlspool(['install-units', ...args]);
    assert.equal(r.code, 2, `install-units ${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^tlspool install-units: .* \(see tlspool install-units --help\)\n$/);
  }
});
