#!/usr/bin/env node
// Runs every compiled test under dist/test with Node's own test runner.
// Usage: node scripts/run-tests.js [substring | file ...]  (filters files by their path under
// dist/test; an existing .js file is run as it is)
//
// The tests run with TMPDIR set to a directory of this run's own. What they
// leave in it (a temporary directory a test or helper made and did not remove)
// fails the run, named, and is removed; so a run leaves nothing in /tmp, and
// runs going on beside it (other checkouts, other people) do not disturb the count.
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = path.join(__dirname, '..', 'dist', 'test');
function walk(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? walk(p) : e.name.endsWith('.test.js') ? [p] : [];
  });
}
const filters = process.argv.slice(2);
const named = filters.filter((f) => f.endsWith('.js') && fs.existsSync(f)).map((f) => path.resolve(f));
const substrings = filters.filter((f) => !named.includes(path.resolve(f)));
const files = [
  ...named,
  ...(filters.length === 0 || substrings.length > 0
    ? walk(root).filter((f) => substrings.length === 0 || substrings.some((s) => path.relative(root, f).includes(s)))
    : []),
].sort();
if (files.length === 0) {
  console.error('no test files found under dist/test; run: npm run setup');
  process.exit(1);
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tlspool-run-'));
// Like /tmp for the other uids some tests run commands as: they may pass through it.
fs.chmodSync(tmp, 0o755);
// One file at a time: tests start real daemons and peers, and the machine has two cores.
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...files], {
  stdio: 'inherit',
  env: { ...process.env, TMPDIR: tmp },
});
const left = fs.readdirSync(tmp);
fs.rmSync(tmp, { recursive: true, force: true });
if (left.length > 0) {
  console.error(`\nthe tests left ${left.length} entr${left.length === 1 ? 'y' : 'ies'} in their temporary directory (removed now); every test removes what it makes:`);
  for (const name of left.sort()) console.error(`  ${name}`);
  process.exit(r.status || 1);
}
process.exit(r.status ?? 1);
