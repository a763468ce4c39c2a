/**
 * The processes a typed PIN passes through outside the daemon — the agent
 * behind the web UI (`tlspool ui --web`) and `tlspool pinentry` — are
 * undumpable, as the daemon is: no core dump, and no ptrace (debugger,
 * memory dump) by other processes of the same user. Observed from outside
 * with test/c/ptrace_probe.c, a ptrace attach with the powers any process
 * of this uid has (CAP_SYS_PTRACE dropped): Linux refuses it with EPERM
 * only to a process that set PR_SET_DUMPABLE 0. A plain Node process is the
 * control that the probe can attach at all.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { buildDir, C_SOURCE_DIR, compileC, describeRun, runProgram, type BuildDir } from '../../harness/cbuild';
import { CLI, startDaemon, type TestDaemon } from '../../harness/daemon';
import { waitFor } from '../../harness/wait';
import { startWebUi, type WebUi } from '../../harness/web-ui';

const GUARD = { timeout: 60_000 };
let dir: BuildDir;
let probe: string;
let daemon: TestDaemon | undefined;
let ui: WebUi | undefined;
let children: ChildProcess[] = [];
before(() => {
  dir = buildDir();
  probe = compileC(path.join(C_SOURCE_DIR, 'ptrace_probe.c'), dir, { projectHeaders: false });
});
after(() => dir.remove());
afterEach(async () => {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) {
      const gone = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      await gone;
    }
  }
  children = [];
  await ui?.stop();
  ui = undefined;
  await daemon?.stop();
  daemon = undefined;
});

/** What the probe says of `pid`: 'attached' or 'EPERM'. */
async function attach(pid: number): Promise<string> {
  const r = await runProgram(probe, [String(pid)]);
  assert.ok(r.code === 0 || r.code === 1, describeRun('ptrace_probe', r));
  return r.stdout.trim();
}

function collect(stream: NodeJS.ReadableStream): () => string {
  let out = '';
  stream.setEncoding('utf8');
  stream.on('data', (s: string) => (out += s));
  return () => out;
}

describe('PIN entry processes are undumpable', () => {
  test('the probe attaches to a plain Node process (the control)', GUARD, async () => {
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000); console.log("up")'], { stdio: ['ignore', 'pipe', 'ignore'] });
    children.push(child);
    const out = collect(child.stdout!);
    await waitFor('the control to run', () => out().includes('up'));
    assert.equal(await attach(child.pid!), 'attached');
  });

  test('tlspool ui --web (attached to a daemon) refuses ptrace', GUARD, async () => {
    daemon = await startDaemon();
    ui = await startWebUi(['--attach', '--socket', daemon.socket]);
    assert.equal(await attach(ui.proc.pid!), 'EPERM');
  });

  test('tlspool pinentry refuses ptrace', GUARD, async () => {
    daemon = await startDaemon();
    const child = spawn(process.execPath, [CLI, 'pinentry', '--socket', daemon.socket, '--pin-fd', '3'], { stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
    children.push(child);
    const err = collect(child.stderr!);
    await waitFor('the offer', () => /offering PIN entry/.test(err()));
    assert.equal(await attach(child.pid!), 'EPERM');
  });

  test('the daemon refuses ptrace too', GUARD, async () => {
    daemon = await startDaemon();
    assert.equal(await attach(daemon.pid), 'EPERM');
  });
});
