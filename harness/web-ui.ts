/**
 * `tlspool ui --web` as a child process: start it, read the URL line it
 * prints, stop it (SIGTERM, then wait for its exit).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { CLI } from './daemon';
import { waitFor } from './wait';

export interface WebUi {
  readonly proc: ChildProcess;
  /** The page URL, token included. */
  readonly url: URL;
  /** The whole line it printed (the URL, and whether it hosts or attached). */
  readonly line: string;
  readonly port: number;
  readonly token: string;
  /** Everything it wrote to stderr so far. */
  logs(): string;
  stop(): Promise<void>;
}

/** `tlspool ui --web ARGS`; resolves once the URL line is out. */
export async function startWebUi(args: string[], env: NodeJS.ProcessEnv = {}): Promise<WebUi> {
  const proc = spawn(process.execPath, [CLI, 'ui', '--web', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let out = '';
  let err = '';
  proc.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
  proc.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
  const line = await waitFor('the URL line of tlspool ui --web', () => {
    if (proc.exitCode !== null) throw new Error(`tlspool ui exited with ${proc.exitCode}: ${err}`);
    return out.includes('\n') ? out.split('\n')[0]! : undefined;
  });
  const url = new URL(line.split(' ')[0]!);
  return {
    proc,
    url,
    line,
    port: Number(url.port),
    token: url.searchParams.get('token')!,
    logs: () => err,
    stop: async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
    },
  };
}
