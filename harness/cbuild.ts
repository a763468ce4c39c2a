/**
 * Compile C (and syntax-check C++) for a test, into a temporary directory,
 * against the project's own headers in include; then run the result.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** The repository root (this file runs as dist/harness/cbuild.js). */
export const ROOT = path.resolve(__dirname, '..', '..');
export const INCLUDE_DIR = path.join(ROOT, 'include');
/** Where the C sources of the tests live (not compiled by tsc, read from here). */
export const C_SOURCE_DIR = path.join(ROOT, 'test', 'c');

export const CC = process.env.CC ?? 'cc';
export const CXX = process.env.CXX ?? 'g++';
export const C_FLAGS = ['-std=c11', '-Wall', '-Wextra', '-Werror', '-pedantic'];
export const CXX_FLAGS = ['-std=c++11', '-Wall', '-Wextra', '-Werror', '-pedantic'];

/** A temporary build directory; `remove()` deletes it and all it holds. */
export interface BuildDir {
  readonly dir: string;
  remove(): void;
}

export function buildDir(prefix = 'tlspool-cbuild-'): BuildDir {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

export interface CompileOptions {
  /** Extra -I directories, after include. */
  includes?: string[];
  /** Whether to put include on the include path (default true). */
  projectHeaders?: boolean;
  flags?: string[];
}

function compilerFailure(what: string, cmd: string[], r: ReturnType<typeof spawnSync>): Error {
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim();
  const why = r.error ? String(r.error) : `exit ${r.status}${r.signal ? ` signal ${r.signal}` : ''}`;
  return new Error(`${what} failed (${why}):\n$ ${cmd.join(' ')}\n${out}`);
}

function includeFlags(opts: CompileOptions): string[] {
  const dirs = [...(opts.projectHeaders === false ? [] : [INCLUDE_DIR]), ...(opts.includes ?? [])];
  return dirs.map((d) => `-I${d}`);
}

/**
 * Compile one C source file into an executable inside `into`; returns its
 * path. Throws with the compiler's full output if it does not compile
 * cleanly (warnings are errors).
 */
export function compileC(source: string, into: BuildDir, opts: CompileOptions = {}): string {
  const exe = path.join(into.dir, path.basename(source).replace(/\.c$/, ''));
  const cmd = [CC, ...C_FLAGS, ...includeFlags(opts), ...(opts.flags ?? []), '-o', exe, source];
  const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw compilerFailure(`compiling ${path.basename(source)}`, cmd, r);
  return exe;
}

/** Write C source text to `name` in the build dir and compile it. */
export function compileCText(name: string, text: string, into: BuildDir, opts: CompileOptions = {}): string {
  const file = path.join(into.dir, name);
  fs.writeFileSync(file, text);
  return compileC(file, into, opts);
}

/** `g++ -fsyntax-only` on C++ source text; throws with the compiler output on failure. */
export function checkCxxSyntax(name: string, text: string, into: BuildDir, opts: CompileOptions = {}): void {
  const file = path.join(into.dir, name);
  fs.writeFileSync(file, text);
  const cmd = [CXX, ...CXX_FLAGS, ...includeFlags(opts), ...(opts.flags ?? []), '-fsyntax-only', file];
  const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw compilerFailure(`C++ syntax check of ${name}`, cmd, r);
}

export interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Set when the program had to be killed because it never finished. */
  readonly hung: boolean;
}

/** Everything a program printed, for an assertion message. */
export function describeRun(what: string, r: RunResult): string {
  const how = r.hung ? 'hung and was killed' : r.signal ? `died of ${r.signal}` : `exited ${r.code}`;
  return `${what} ${how}\n--- stdout ---\n${r.stdout}--- stderr ---\n${r.stderr}`;
}

/**
 * Run a program without blocking the event loop (a daemon child of this
 * process keeps writing its logs to a pipe we must drain). `hangGuardMs` only
 * stops a stuck program so the test can fail with its output; it is not a
 * timing assertion.
 */
export function runProgram(exe: string, args: string[], hangGuardMs = 60000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(exe, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let hung = false;
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const guard = setTimeout(() => {
      hung = true;
      child.kill('SIGKILL');
    }, hangGuardMs);
    child.once('error', (e) => {
      clearTimeout(guard);
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(guard);
      resolve({ code, signal, stdout, stderr, hung });
    });
  });
}
