#!/usr/bin/env node
// `npm start` after setup: the desktop app when Electron can run here, else
// the browser UI (`tlspool ui --web`, hosting the daemon or attaching to
// one), else the daemon alone; it says which and why.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');

const root = path.join(__dirname, '..');
const say = (s) => process.stderr.write(`[start] ${s}\n`);

function electronProblem() {
  if (!fs.existsSync(path.join(root, 'node_modules', 'electron', 'dist'))) {
    return "Electron's runtime is not installed (it cannot be downloaded here)";
  }
  if (!process.env.DISPLAY && !process.env.WAYLAND_DISPLAY) return 'no display is available (neither DISPLAY nor WAYLAND_DISPLAY is set)';
  if (!fs.existsSync(path.join(root, 'dist', 'electron', 'main.js'))) return 'the Electron shell is not built (dist/electron/main.js)';
  return null;
}

function run(cmd, args) {
  const child = spawn(cmd, args, { cwd: root, stdio: 'inherit' });
  // Ctrl-C reaches the child through the terminal's process group; SIGTERM sent to us alone is passed on.
  process.on('SIGTERM', () => child.kill('SIGTERM'));
  process.on('SIGINT', () => {});
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

const cli = path.join(root, 'bin', 'tlspool.js');
const args = process.argv.slice(2);
const problem = electronProblem();
if (!problem) {
  say('starting the desktop app (Electron)');
  run(require('electron'), [root, ...args]);
} else if (!fs.existsSync(path.join(root, 'dist', 'ui', 'index.html'))) {
  say(`${problem}, and the browser UI is not built (dist/ui/index.html); running the daemon alone`);
  run(process.execPath, [cli, 'daemon', ...args]);
} else {
  say(`${problem}; starting the browser UI instead: open the URL below`);
  run(process.execPath, [cli, 'ui', '--web', ...args]);
}
