/**
 * The layer check (`npm run lint`, .oxlintrc.json) against imports
 * planted in each layer: each wrong-way import must be refused with its
 * layer's message, and a right-way one let through. Without this a rule
 * whose globs match nothing would pass everything.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { ROOT } from '../../harness/daemon';

const OXLINT = path.join(ROOT, 'node_modules', '.bin', 'oxlint');

/** Plant `files` (path → text, relative to the root), lint them, remove them; what oxlint said and whether it passed. */
function lint(files: Record<string, string>): { ok: boolean; output: string } {
  const planted = Object.keys(files).map((f) => path.join(ROOT, f));
  try {
    for (const [f, text] of Object.entries(files)) fs.writeFileSync(path.join(ROOT, f), text, { flag: 'wx' });
    const r = spawnSync(OXLINT, ['-c', '.oxlintrc.json', '--deny-warnings', ...Object.keys(files)], { cwd: ROOT, encoding: 'utf8' });
    return { ok: r.status === 0, output: r.stdout + r.stderr };
  } finally {
    for (const f of planted) fs.rmSync(f, { force: true });
  }
}

const wrong: Array<[file: string, importLine: string, says: RegExp]> = [
  ['src/model/layer-probe.ts', "import type { Db } from '../store/db';", /layer 'pure'/],
  ['src/protocol/layer-probe.ts', "import * as fs from 'node:fs';", /layer 'pure'/],
  ['src/contract/layer-probe.ts', "import type { EventBus } from '../events/bus';", /layer 'pure'/],
  ['src/store/layer-probe.ts', "import { startDaemon } from '../daemon/daemon';", /layer 'node'/],
  ['src/addon/layer-probe.ts', "import { PoolClient } from '../client/pool-client';", /layer 'node'/],
  ['src/daemon/pin/layer-probe.ts', "import { PoolClient } from '../../client/pool-client';", /layer 'daemon'/],
  ['src/daemon/layer-probe.ts', "import { DesktopAgent } from '../desktop/agent/agent';", /layer 'daemon'/],
  ['src/daemon/control/layer-probe.ts', "import { openModule } from '../../pkcs11/modules';", /pkcs11js, which must not run/],
  ['src/daemon/tls/layer-probe.ts', "import * as pkcs11js from 'pkcs11js';", /pkcs11js, which must not run/],
  ['src/client/layer-probe.ts', "import type { Handler } from '../daemon/server/request';", /layer 'client'/],
  ['src/desktop/agent/layer-probe.ts', "import { ClientSession } from '../../daemon/server/session';", /layer 'desktop'/],
  ['src/desktop/web/layer-probe.ts', "import { main } from '../../cli/main';", /layer 'desktop'/],
  ['src/cli/layer-probe.ts', "import { startDaemon } from '../../harness/daemon';", /tests or benchmarks/],
  ['electron/layer-probe.ts', "import { startDaemon } from '../src/daemon/daemon';", /Electron main process/],
  ['renderer/src/layer-probe.ts', "import { connectUnix } from '../../src/addon/ipc';", /runs in a browser/],
  ['renderer/src/layer-probe.ts', "import * as fs from 'node:fs';", /runs in a browser/],
];

const right: Array<[file: string, importLine: string]> = [
  ['src/contract/layer-probe.ts', "import type { ConnectionRecord } from '../model/connection';"],
  ['src/store/layer-probe.ts', "import type { Logger } from '../log/logger';"],
  ['src/daemon/pin/layer-probe.ts', "import type { Db } from '../../store/db';"],
  ['src/daemon/layer-probe.ts', "import { defaultModules } from '../pkcs11/default-modules';"],
  ['src/client/layer-probe.ts', "import { encode } from '../protocol/codec';"],
  ['src/desktop/agent/layer-probe.ts', "import { startDaemon } from '../../daemon/daemon';"],
  ['src/cli/layer-probe.ts', "import { startDaemon } from '../daemon/daemon';"],
  ['renderer/src/layer-probe.ts', "import type { ConnectionRecord } from '../../src/model/connection';"],
];

test('the tree as it is passes the layer check', () => {
  const r = spawnSync(OXLINT, ['-c', '.oxlintrc.json', '--deny-warnings', 'src', 'electron', 'renderer/src'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

for (const [file, line, says] of wrong) {
  test(`refused: ${line} in ${path.dirname(file)}`, () => {
    const r = lint({ [file]: `${line}\nexport {};\n` });
    assert.equal(r.ok, false, `oxlint let it through:\n${r.output}`);
    assert.match(r.output, says);
  });
}

for (const [file, line] of right) {
  test(`allowed: ${line} in ${path.dirname(file)}`, () => {
    const r = lint({ [file]: `${line}\nexport {};\n` });
    assert.equal(r.ok, true, r.output);
  });
}

test('an import cycle is refused', () => {
  const r = lint({
    'src/util/layer-probe-a.ts': "import { b } from './layer-probe-b';\nexport const a = () => b;\n",
    'src/util/layer-probe-b.ts': "import { a } from './layer-probe-a';\nexport const b = () => a;\n",
  });
  assert.equal(r.ok, false, r.output);
  assert.match(r.output, /cycle/i);
});

test('a function over 80 lines, or a file over 400, is refused in src/ and electron/', () => {
  const fn = (n: number) => `export function probe(): number {\n  let x = 0;\n${'  x += 1;\n'.repeat(n)}  return x;\n}\n`;
  const long = lint({ 'src/daemon/size-probe.ts': fn(80) });
  assert.equal(long.ok, false, 'an 83-line function is refused');
  assert.match(long.output, /max-lines-per-function/);
  assert.equal(lint({ 'electron/size-probe.ts': fn(70) }).ok, true, 'a 73-line function passes');
  const file = `${'export const a = 1;\n'.repeat(1)}${Array.from({ length: 400 }, (_, i) => `export const v${i} = ${i};`).join('\n')}\n`;
  const big = lint({ 'src/util/size-probe.ts': file });
  assert.equal(big.ok, false, 'a 401-line file is refused');
  assert.match(big.output, /max-lines/);
});
