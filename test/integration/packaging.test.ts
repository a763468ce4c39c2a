/**
 * The installers' description (electron-builder.yml) against the tree a
 * build leaves: what the packages ship must exist, so that `npm run dist`
 * (which cannot run on these machines: no Electron runtime) does not fail
 * or ship a package without its units, man pages or command.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { ROOT } from '../../harness/daemon';

interface BuilderConfig {
  files: string[];
  extraMetadata: { main: string };
  deb: { fpm: string[] };
}

const config = parse(fs.readFileSync(path.join(ROOT, 'electron-builder.yml'), 'utf8')) as BuilderConfig;
const included = config.files.filter((f) => !f.startsWith('!'));

/** Whether a path in the checkout is taken by one of the `files` patterns (a literal path, or DIR/**). */
function shipped(rel: string): boolean {
  return included.some((f) => (f.endsWith('/**') ? rel.startsWith(f.slice(0, -2)) : rel === f));
}

test('every literal file the app ships exists after the build, and every directory pattern has files', () => {
  for (const f of included) {
    const at = path.join(ROOT, f.endsWith('/**') ? f.slice(0, -3) : f);
    assert.ok(fs.existsSync(at), `electron-builder.yml ships ${f}, which the build did not make`);
    if (f.endsWith('/**')) assert.ok(fs.readdirSync(at).length > 0, `${f} is empty`);
  }
});

test("the main process's modules and what the app reads at run time are in the package", () => {
  assert.ok(shipped(config.extraMetadata.main), config.extraMetadata.main);
  const main = fs.readFileSync(path.join(ROOT, config.extraMetadata.main), 'utf8');
  const dir = path.dirname(config.extraMetadata.main);
  for (const [, spec] of main.matchAll(/require\("(\.[^"]+)"\)/g)) {
    const rel = path.relative(ROOT, path.resolve(ROOT, dir, `${spec}.js`));
    assert.ok(shipped(rel), `${config.extraMetadata.main} requires ${spec} (${rel}), which the package leaves out`);
  }
  // util/autostart.ts reads the desktop entry from the package root.
  assert.ok(shipped('build/tlspool.desktop'));
  assert.ok(shipped('native/build/Release/tlspool_native.node'));
});

test('the deb installs the command, the man pages and the systemd units, from files that exist', () => {
  const dests = new Map<string, string>();
  for (const mapping of config.deb.fpm) {
    const [src, dest] = mapping.split('=');
    assert.ok(src && dest && path.isAbsolute(dest), `fpm mapping ${mapping} is SOURCE=/DESTINATION`);
    assert.ok(fs.statSync(path.join(ROOT, src)).isFile(), `${src} (installed as ${dest}) exists`);
    dests.set(dest, src);
  }
  for (const dest of [
    '/usr/bin/tlspool',
    '/usr/share/man/man1/tlspool.1',
    '/usr/share/man/man5/tlspool.conf.5',
    '/usr/lib/systemd/user/tlspool.socket',
    '/usr/lib/systemd/user/tlspool.service',
    '/usr/lib/systemd/system/tlspool.service',
    '/usr/lib/sysusers.d/tlspool.conf',
  ]) {
    assert.ok(dests.has(dest), `the deb installs ${dest}`);
  }
  // The units start the command the package installs.
  for (const unit of ['contrib/systemd/user/tlspool.service', 'contrib/systemd/system/tlspool.service']) {
    assert.match(fs.readFileSync(path.join(ROOT, unit), 'utf8'), /^ExecStart=\/usr\/bin\/tlspool daemon\b/m, unit);
  }
  const bin = path.join(ROOT, dests.get('/usr/bin/tlspool')!);
  assert.ok((fs.statSync(bin).mode & 0o111) !== 0, `${bin} is executable`);
  const sh = spawnSync('sh', ['-n', bin], { encoding: 'utf8' });
  assert.equal(sh.status, 0, sh.stderr);
  assert.match(fs.readFileSync(bin, 'utf8'), /ELECTRON_RUN_AS_NODE=1 exec "\/opt\/TLS Pool\/tlspool-desktop" "\/opt\/TLS Pool\/resources\/app\/bin\/tlspool\.js" "\$@"/);
});
