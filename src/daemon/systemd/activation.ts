/**
 * Socket activation (sd_listen_fds(3)): the listening sockets systemd hands
 * a service it starts, as descriptors from 3 on, described by LISTEN_PID,
 * LISTEN_FDS and LISTEN_FDNAMES. The daemon takes two, told apart by the
 * FileDescriptorName= of their .socket units: `tlspool` (the pool socket)
 * and `control` (the control socket). Either may be missing; the daemon then
 * makes that socket itself, as without systemd.
 */
import { Failure } from '../../model/failure';


/** The FileDescriptorName= of each socket the daemon takes. */
export const FD_NAMES = { pool: 'tlspool', control: 'control' } as const;

/** sd_listen_fds(3): passed descriptors start here. */
export const LISTEN_FDS_START = 3;

/** More would be a unit that is not ours; refused rather than guessed at. */
const MAX_FDS = 16;

export interface ActivatedSockets {
  /** The pool socket's descriptor, if systemd passed one named `tlspool`. */
  readonly pool?: number;
  /** The control socket's descriptor, if systemd passed one named `control`. */
  readonly control?: number;
}

/** Sockets systemd passed that the daemon cannot use (EINVAL). */
export class ActivationError extends Failure {
  constructor(message: string) {
    super('EINVAL', message);
  }
}

const VARIABLES = ['LISTEN_PID', 'LISTEN_FDS', 'LISTEN_FDNAMES'] as const;

/**
 * The sockets systemd passed to this process, or undefined when it passed
 * none (no LISTEN_FDS, or they are meant for another pid). The variables are
 * removed from `env` either way, so no child process takes them for its own.
 * Throws an ActivationError for a set of sockets the daemon cannot use:
 * unnamed ones (more than one), unknown names, a name twice.
 */
export function socketsFromSystemd(env: NodeJS.ProcessEnv, pid: number = process.pid): ActivatedSockets | undefined {
  const { LISTEN_PID: forPid, LISTEN_FDS: count, LISTEN_FDNAMES: names } = env;
  for (const v of VARIABLES) delete env[v];
  if (forPid === undefined || count === undefined) return undefined;
  if (!/^[1-9]\d*$/.test(forPid) || Number(forPid) !== pid) return undefined;
  if (!/^\d+$/.test(count) || Number(count) > MAX_FDS) {
    throw new ActivationError(`LISTEN_FDS is "${count}": not a number of sockets (0..${MAX_FDS}) systemd could have passed`);
  }
  const n = Number(count);
  if (n === 0) return undefined;
  const known = `tlspool daemon takes "${FD_NAMES.pool}" (the pool socket) and "${FD_NAMES.control}" (the control socket): set FileDescriptorName= in each .socket unit`;
  let list: string[];
  if (names === undefined || names === '') {
    // One socket with no name (systemd-socket-activate -l PATH without --fdname) can only be the pool's.
    if (n > 1) throw new ActivationError(`systemd passed ${n} sockets without names (no LISTEN_FDNAMES); ${known}`);
    list = [FD_NAMES.pool];
  } else {
    list = names.split(':');
    if (list.length !== n) throw new ActivationError(`LISTEN_FDNAMES names ${list.length} sockets but LISTEN_FDS says ${n}`);
  }
  const found: { pool?: number; control?: number } = {};
  list.forEach((name, i) => {
    const fd = LISTEN_FDS_START + i;
    const role = name === FD_NAMES.pool ? 'pool' : name === FD_NAMES.control ? 'control' : undefined;
    if (role === undefined) throw new ActivationError(`systemd passed a socket named "${name}" (fd ${fd}); ${known}`);
    if (found[role] !== undefined) throw new ActivationError(`systemd passed two sockets named "${name}" (fd ${found[role]} and ${fd}); give each .socket unit its own FileDescriptorName=`);
    found[role] = fd;
  });
  return found;
}
