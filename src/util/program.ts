/**
 * Who a local program is, in words a person acts on: the PIN entry program
 * or approval agent that holds the place another wants, named from its pid
 * (known from peer credentials) and its command line in /proc/PID/cmdline,
 * which the executable alone, often /usr/bin/node, does not tell. The TLS
 * Pool's own programs are named as such; anything else by its command line.
 * The text may go into an error's 128-byte message, so it is kept short.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The arguments of a process, or undefined when it is gone or not ours to read. */
function commandLine(pid: number): string[] | undefined {
  try {
    const raw = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    const args = raw.split('\0');
    if (args[args.length - 1] === '') args.pop();
    return args.length > 0 ? args : undefined;
  } catch {
    return undefined;
  }
}

/** The `tlspool` subcommand and its arguments, when the process runs the tlspool command. */
function tlspoolArgs(args: string[]): string[] | undefined {
  const i = args.findIndex((a) => path.basename(a) === 'tlspool' || path.basename(a) === 'tlspool.js');
  return i < 0 ? undefined : args.slice(i + 1);
}

const MAX_COMMAND = 40;

/** "the TLS Pool UI, `tlspool ui --web`, pid 42", "`tlspool pinentry`, pid 42", "`gpg-agent --daemon`, pid 42". */
export function describeProgram(pid: number, executable?: string): string {
  const args = commandLine(pid);
  const sub = args && tlspoolArgs(args);
  if (sub?.[0] === 'ui') return `the TLS Pool UI, \`tlspool ui --web\`, pid ${pid}`;
  if (sub?.[0] === 'pinentry') return `\`tlspool pinentry${sub.includes('--shared') ? ' --shared' : ''}\`, pid ${pid}`;
  if (args?.some((a) => /electron/i.test(path.basename(a)))) return `the TLS Pool desktop app, pid ${pid}`;
  let command = args ? [path.basename(args[0]!), ...args.slice(1)].join(' ') : executable ? path.basename(executable) : undefined;
  if (command === undefined) return `pid ${pid}`;
  if (command.length > MAX_COMMAND) command = `${command.slice(0, MAX_COMMAND - 1)}…`;
  return `\`${command}\`, pid ${pid}`;
}
