/** The command line of a connected peer process, from /proc/PID/cmdline, bounded. */
import * as fs from 'node:fs';
import { COMMAND_MAX_ARGS, COMMAND_MAX_ARG_CHARS } from '../../model/command';

const MAX_BYTES = 8192;

/** Its argv, at most COMMAND_MAX_ARGS arguments of COMMAND_MAX_ARG_CHARS; undefined when unreadable (gone, another user's, empty). */
export function peerCommand(pid: number): string[] | undefined {
  let fd: number | undefined;
  try {
    fd = fs.openSync(`/proc/${pid}/cmdline`, 'r');
    const buf = Buffer.alloc(MAX_BYTES);
    const n = fs.readSync(fd, buf, 0, MAX_BYTES, 0);
    const argv = buf
      .subarray(0, n)
      .toString('utf8')
      .replace(/\0$/, '')
      .split('\0')
      .slice(0, COMMAND_MAX_ARGS)
      .map((a) => a.slice(0, COMMAND_MAX_ARG_CHARS));
    return n > 0 && argv.length > 0 ? argv : undefined;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
