/**
 * scripts/run-tests.js fails a run whose tests leave something in the
 * temporary directory, names it, and removes it: a leak is found when it is
 * made, and no run fills /tmp.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ROOT } from '../../harness/daemon';

describe('scripts/run-tests.js', () => {
  test('a run whose test passes but leaves a directory fails, names it, and removes it', () => {
    const fixture = path.join(ROOT, 'dist', 'test', 'fixtures', 'leaves-a-temp-dir.js');
    const before = new Set(fs.readdirSync(os.tmpdir()));
    // A run of its own, not a part of this one (node:test marks its children with NODE_TEST_CONTEXT).
    const env = { ...process.env };
    delete env.NODE_TEST_CONTEXT;
    const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'run-tests.js'), fixture], { encoding: 'utf8', env, timeout: 60_000 });
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /✔ passes, and leaves a directory behind/);
    assert.match(r.stderr, /the tests left 1 entry in their temporary directory \(removed now\); every test removes what it makes:\n {2}tlspool-leak-\w{6}\n/);
    const left = fs.readdirSync(os.tmpdir()).filter((e) => !before.has(e));
    assert.deepEqual(left, [], 'the run left nothing in the temporary directory');
  });
});
