/**
 * The limits of the `limits` section: how many STARTTLS may be pending
 * (asked and not yet answered) and how many pool connections may be open,
 * per client uid and in all. A pending STARTTLS holds a thread, a few
 * descriptors and a TLS session; a connection holds a descriptor and its
 * queues. Without them one client could take every descriptor and thread
 * of the process, and with them everyone else's service.
 *
 * Over a limit the work is refused with an errno and a message naming the
 * limit (see docs/errors.md), and a rate-limited warning is logged. Limits
 * are read at each decision, so a SIGHUP that changes them applies to new
 * work; nothing already admitted is dropped.
 */
import type { PeerCred } from '../../addon/ipc';
import type { Logger } from '../../log/logger';
import { RateLimitedLog } from '../../log/rate-limit';
import type { ErrnoName } from '../../protocol/errno';
import type { Handler, Request } from './request';
import { Failure } from '../../model/failure';

export interface LimitsConfig {
  readonly handshakes: number;
  readonly handshakes_per_uid: number;
  readonly connections: number;
  readonly connections_per_uid: number;
}

/** Why a connection is not served: the errno and message its first request is answered with. */
export interface Refusal {
  readonly errno: ErrnoName;
  readonly message: string;
}

/** Counts of something per uid and in all. */
class Tally {
  total = 0;
  private readonly byUid = new Map<number, number>();

  of(uid: number): number {
    return this.byUid.get(uid) ?? 0;
  }

  /** Count one for `uid`; the returned function takes it back (once). */
  take(uid: number): () => void {
    this.total++;
    this.byUid.set(uid, this.of(uid) + 1);
    let taken = true;
    return () => {
      if (!taken) return;
      taken = false;
      this.total--;
      const left = this.of(uid) - 1;
      if (left > 0) this.byUid.set(uid, left);
      else this.byUid.delete(uid);
    };
  }
}

export class PoolLimits {
  private readonly pendingHandshakes = new Tally();
  private readonly openConnections = new Tally();
  private readonly warnings: RateLimitedLog;

  constructor(
    private readonly config: () => LimitsConfig,
    log: Logger,
  ) {
    this.warnings = new RateLimitedLog(log);
  }

  get handshakes(): number {
    return this.pendingHandshakes.total;
  }

  get connections(): number {
    return this.openConnections.total;
  }

  /**
   * A new pool connection from `peer`: returns the function to call when it
   * closes, or the refusal when it would pass a connection limit.
   */
  admitConnection(peer: PeerCred, client: number): (() => void) | Refusal {
    const limits = this.config();
    const t = this.openConnections;
    if (t.of(peer.uid) >= limits.connections_per_uid) {
      this.reached('limits.connections_per_uid', limits.connections_per_uid, peer, client);
      return {
        errno: 'EUSERS',
        message: `too many pool connections for uid ${peer.uid} (limits.connections_per_uid ${limits.connections_per_uid}); close one or share one`,
      };
    }
    if (t.total >= limits.connections) {
      this.reached('limits.connections', limits.connections, peer, client);
      return {
        errno: 'EUSERS',
        message: `too many pool connections (limits.connections ${limits.connections}); close one, or use one for several requests`,
      };
    }
    return t.take(peer.uid);
  }

  /**
   * `inner` (the STARTTLS handler) within the handshake limits: a request
   * counts from its arrival until its final answer. Also answers a STARTTLS
   * whose socket the kernel could not hand over for lack of descriptors.
   */
  limitHandshakes<P>(inner: Handler<P>): Handler<P> {
    return async (req) => {
      if (req.fdLost && !req.fd) {
        this.warnings.warn('fd-lost', 'a descriptor sent with a request was lost', {
          errno: 'EMFILE',
          reason: 'the daemon is out of file descriptors (RLIMIT_NOFILE)',
          ...who(req),
        });
        throw new Failure('EMFILE', 'the pool has run out of file descriptors and lost the socket sent; try again later');
      }
      const release = this.admitHandshake(req);
      try {
        return await inner(req);
      } finally {
        release();
      }
    };
  }

  /** Log the warnings still held back (at shutdown). */
  flush(): void {
    this.warnings.flush();
  }

  private admitHandshake<P>(req: Request<P>): () => void {
    const limits = this.config();
    const t = this.pendingHandshakes;
    const { peer } = req.client;
    if (t.of(peer.uid) >= limits.handshakes_per_uid) {
      this.reached('limits.handshakes_per_uid', limits.handshakes_per_uid, peer, req.client.id);
      throw new Failure(
        'EAGAIN',
        `too many pending STARTTLS for uid ${peer.uid} (limits.handshakes_per_uid ${limits.handshakes_per_uid}); retry when some are answered`,
      );
    }
    if (t.total >= limits.handshakes) {
      this.reached('limits.handshakes', limits.handshakes, peer, req.client.id);
      throw new Failure('EAGAIN', `too many pending STARTTLS in the pool (limits.handshakes ${limits.handshakes}); retry when some are answered`);
    }
    return t.take(peer.uid);
  }

  private reached(limit: string, max: number, peer: PeerCred, client: number): void {
    this.warnings.warn(limit, 'limit reached', { limit, max, client, uid: peer.uid, pid: peer.pid });
  }
}

function who<P>(req: Request<P>): { client: number; uid: number; pid: number } {
  return { client: req.client.id, uid: req.client.peer.uid, pid: req.client.peer.pid };
}
