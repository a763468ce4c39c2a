/**
 * Start the real daemon (`tlspool daemon`) in a temporary directory for a
 * test, and look at it from outside: its socket, its logs, its open fds.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { removeTempDir, tempDir } from './temp';

export const ROOT = path.resolve(__dirname, '..', '..');
export const CLI = path.join(ROOT, 'bin', 'tlspool.js');

export interface TestDaemon {
  /** The temporary directory that holds the socket and the state. */
  readonly dir: string;
  readonly socket: string;
  readonly stateDir: string;
  readonly pid: number;
  readonly proc: ChildProcess;
  /** Everything the daemon wrote to stderr so far. */
  logs(): string;
  /** Number of entries in /proc/<pid>/fd. */
  fdCount(): number;
  /** SIGTERM, then wait for exit; resolves with the exit code. */
  stop(): Promise<number | null>;
}

export interface StartOptions {
  /** Extra arguments after `daemon --socket S --state-dir D`. */
  args?: string[];
  /** YAML text written to <dir>/tlspool.yaml and passed with --config. */
  config?: string;
  env?: NodeJS.ProcessEnv;
  /** Reuse a directory (to restart a daemon on the same socket and state). */
  dir?: string;
}

export { tempDir } from './temp';

export async function startDaemon(opts: StartOptions = {}): Promise<TestDaemon> {
  const made = opts.dir === undefined;
  const dir = opts.dir ?? tempDir();
  const socket = path.join(dir, 'tlspool.sock');
  const stateDir = path.join(dir, 'state');
  const args = [CLI, 'daemon', '--socket', socket, '--state-dir', stateDir];
  if (opts.config !== undefined) {
    const file = path.join(dir, 'tlspool.yaml');
    fs.writeFileSync(file, opts.config);
    args.push('--config', file);
  }
  args.push(...(opts.args ?? []));
  const proc = spawn(process.execPath, args, {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...opts.env },
  });
  let stderr = '';
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (s: string) => (stderr += s));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));

  const deadline = Date.now() + 15000;
  while (!/"msg":"listening"/.test(stderr)) {
    // A daemon that did not start leaves nothing: not its process, not a directory made for it.
    if (proc.exitCode !== null) {
      if (made) removeTempDir(dir);
      throw new Error(`daemon exited with ${proc.exitCode}:\n${stderr}`);
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      await exited;
      if (made) removeTempDir(dir);
      throw new Error(`daemon did not start listening within 15 s:\n${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    dir,
    socket,
    stateDir,
    pid: proc.pid!,
    proc,
    logs: () => stderr,
    fdCount: () => fs.readdirSync(`/proc/${proc.pid}/fd`).length,
    stop: async () => {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      return exited;
    },
  };
}
