#!/usr/bin/env node
// `npm start`: setup (scripts/setup.sh), then the desktop app when Electron
// can run here, else the browser UI (`tlspool ui --web`, hosting the daemon
// or attaching to one), else the daemon alone; it says which and why.
//
// npm runs this through `sh -c`, which dash does not replace with us, and a
// SIGTERM to npm reaches that shell, which dies of it and leaves us behind:
// so the start script is `exec node scripts/start.js`, and this process
// passes SIGTERM (and SIGHUP) on to the child it runs and exits with it.
// TLSPOOL_SKIP_SETUP=1 skips the setup step (the tests start it that way).
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

let child = null;
let stopping = null;
// Ctrl-C reaches the child through the terminal's process group; a signal sent to us alone is passed on.
for (const sig of ['SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    stopping = sig;
    if (child && child.exitCode === null && child.signalCode === null) child.kill(sig);
    else process.exit(1);
  });
}
process.on('SIGINT', () => {});

/** Runs cmd; resolves with its exit code (1 when a signal ended it). */
function run(cmd, args) {
  return new Promise((resolve) => {
    child = spawn(cmd, args, { cwd: root, stdio: 'inherit' });
    child.on('error', (e) => {
      say(`cannot run ${cmd}: ${e.message}`);
      resolve(1);
    });
    child.on('exit', (code, signal) => {
      child = null;
      resolve(code ?? (signal ? 1 : 0));
    });
  });
}

async function main() {
  if (process.env.TLSPOOL_SKIP_SETUP !== '1') {
    const code = await run('bash', [path.join(root, 'scripts', 'setup.sh')]);
    if (code !== 0 || stopping) return code || 1;
  }
  const cli = path.join(root, 'bin', 'tlspool.js');
  const args = process.argv.slice(2);
  const problem = electronProblem();
  if (!problem) {
    say('starting the desktop app (Electron)');
    return run(require('electron'), [root, ...args]);
  }
  if (!fs.existsSync(path.join(root, 'dist', 'ui', 'index.html'))) {
    say(`${problem}, and the browser UI is not built (dist/ui/index.html); running the daemon alone`);
    return run(process.execPath, [cli, 'daemon', ...args]);
  }
  say(`${problem}; starting the browser UI instead: open the URL below`);
  return run(process.execPath, [cli, 'ui', '--web', ...args]);
}

main().then((code) => process.exit(code));
