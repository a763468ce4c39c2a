/**
 * `tlspool autostart`: the desktop app's XDG autostart entry, written where
 * the XDG Autostart specification says and checked with
 * desktop-file-validate, as is the app's own desktop entry it is made from.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLI, ROOT, tempDir } from '../../harness/daemon';

function tlspool(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 30000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function validate(file: string): string {
  const r = spawnSync('desktop-file-validate', [file], { encoding: 'utf8' });
  assert.equal(r.status, 0, `desktop-file-validate ${file}: ${r.stdout}${r.stderr}`);
  return r.stdout + r.stderr;
}

test("the app's desktop entry in build/ passes desktop-file-validate", () => {
  assert.equal(validate(path.join(ROOT, 'build', 'tlspool.desktop')), '');
});

test('autostart on writes a valid entry in $XDG_CONFIG_HOME/autostart; status says so; off removes it', () => {
  const config = tempDir('tlspool-autostart-');
  try {
    const env = { XDG_CONFIG_HOME: config };
    const file = path.join(config, 'autostart', 'tlspool.desktop');
    assert.equal(tlspool(['autostart', 'status'], env).stdout, 'off: no autostart entry\n');

    const on = tlspool(['autostart', 'on'], env);
    assert.equal(on.code, 0, on.stderr);
    assert.equal(on.stdout, `wrote ${file}: the desktop app starts at your next login\n`);
    assert.equal(validate(file), '');
    const entry = fs.readFileSync(file, 'utf8');
    assert.match(entry, /^Exec=tlspool-desktop$/m);
    assert.match(entry, /^Name=TLS Pool$/m, 'the same entry as the app menu shows');
    assert.equal(tlspool(['autostart', 'status'], env).stdout, 'on: starts tlspool-desktop at login\n');

    // Another command, with arguments that need quoting, still makes a valid entry.
    const custom = tlspool(['autostart', 'on', '--exec', `${ROOT}/node_modules/.bin/electron ${ROOT} 100%`], env);
    assert.equal(custom.code, 0, custom.stderr);
    assert.equal(validate(file), '');
    assert.match(fs.readFileSync(file, 'utf8'), /^Exec=\S+\/electron \S+ 100%%$/m);

    const off = tlspool(['autostart', 'off'], env);
    assert.equal(off.code, 0, off.stderr);
    assert.equal(off.stdout, `removed ${file}: the desktop app no longer starts at login\n`);
    assert.ok(!fs.existsSync(file));
    assert.equal(tlspool(['autostart', 'off'], env).stdout, `no autostart entry at ${file}; nothing to do\n`);
  } finally {
    fs.rmSync(config, { recursive: true, force: true });
  }
});

test('without XDG_CONFIG_HOME (or with a relative one) the entry goes to ~/.config/autostart', () => {
  const home = tempDir('tlspool-autostart-home-');
  try {
    for (const xdg of [undefined, 'relative/dir']) {
      const env: NodeJS.ProcessEnv = { HOME: home, XDG_CONFIG_HOME: xdg };
      if (xdg === undefined) delete env.XDG_CONFIG_HOME;
      const r = spawnSync(process.execPath, [CLI, 'autostart', 'on'], { encoding: 'utf8', env: { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'XDG_CONFIG_HOME')), ...env } });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, `wrote ${home}/.config/autostart/tlspool.desktop: the desktop app starts at your next login\n`);
      assert.equal(validate(path.join(home, '.config', 'autostart', 'tlspool.desktop')), '');
      fs.rmSync(path.join(home, '.config'), { recursive: true });
    }
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
});
