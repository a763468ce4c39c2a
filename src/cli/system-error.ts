/**
 * Node's system errors ("ENOENT: no such file or directory, open '/x'") as
 * sentences that name the file or the address and say what to check.
 */

/** What each errno means to the person who ran the command, and what to look at. */
const MEANINGS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied; check its owner and mode',
  EPERM: 'not permitted; check its owner and mode',
  EISDIR: 'it is a directory, not a file',
  ENOTDIR: 'a part of the path is not a directory',
  EADDRINUSE: 'another program is using it; stop that program or choose another port',
  EADDRNOTAVAIL: 'no interface of this machine has that address',
  ECONNREFUSED: 'nothing accepts connections there; is the service running?',
  EHOSTUNREACH: 'that host cannot be reached',
  ENETUNREACH: 'that network cannot be reached',
  ETIMEDOUT: 'no answer in time',
  ENOTFOUND: 'no such host name',
  EMFILE: 'this process has too many open files',
};

/** What the failed system call was doing, in words. */
const VERBS: Readonly<Record<string, string>> = {
  open: 'cannot open',
  read: 'cannot read',
  write: 'cannot write',
  mkdir: 'cannot make the directory',
  stat: 'cannot find',
  lstat: 'cannot find',
  scandir: 'cannot list',
  unlink: 'cannot remove',
  rename: 'cannot rename',
  listen: 'cannot listen on',
  bind: 'cannot listen on',
  connect: 'cannot connect to',
  getaddrinfo: 'cannot resolve',
};

type SystemError = Error & { code?: string; syscall?: string; path?: string; address?: string; port?: number; hostname?: string };

/** The sentence for a Node system error, or undefined for anything else. */
export function systemErrorSentence(e: unknown): string | undefined {
  const err = e as SystemError;
  if (!(e instanceof Error) || typeof err.code !== 'string' || typeof err.syscall !== 'string') return undefined;
  const target =
    err.path ?? (err.address !== undefined ? (err.port !== undefined ? `${err.address.includes(':') ? `[${err.address}]` : err.address}:${err.port}` : err.address) : err.hostname);
  const verb = VERBS[err.syscall] ?? `${err.syscall} failed for`;
  const meaning = MEANINGS[err.code] ?? err.code;
  return target === undefined ? `${verb.replace(/ (on|to|for)$/, '')}: ${meaning} (${err.code})` : `${verb} ${target}: ${meaning} (${err.code})`;
}
