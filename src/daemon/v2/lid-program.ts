/**
 * A V2 local-identity (LIDENTRY) program as the approval service sees it:
 * an approval agent (disclosure/approval.ts) whose questions wait in a
 * queue until its one registration is free, and whose SKIP_ flags say
 * which disclosure rules may be used without asking it.
 */
import type { ApprovalRequest, DisclosureRule } from '../../model/disclosure';
import { V2LidFlag } from '../../protocol/v2-constants';
import type { ApprovalAgent } from '../disclosure/approval';
import type { ClientInfo } from '../server/request';

const BIT = { USER: 0x01, SAME: 0x02, ONEUP: 0x04, NOTROOT: 0x08 } as const;

function hostOf(remote: string): string {
  const r = remote.toLowerCase();
  return r.slice(r.lastIndexOf('@') + 1);
}

/**
 * Whether a rule may be used without asking, by the registration's SKIP_
 * flags: SKIP_DBENTRY must be set, and each further bit names a condition
 * on the rule's selector (the two domain bits are alternatives).
 */
export function skipAllows(flags: number, rule: DisclosureRule, remote: string): boolean {
  if ((flags & V2LidFlag.SKIP_DBENTRY) === 0) return false;
  const sel = rule.remote;
  const host = hostOf(remote);
  if (flags & BIT.USER && !sel.includes('@')) return false;
  if (flags & BIT.NOTROOT && sel === '*') return false;
  const same = sel === host || sel === remote.toLowerCase();
  const oneUp = host.includes('.') && sel === host.slice(host.indexOf('.'));
  const domainBits = flags & (BIT.SAME | BIT.ONEUP);
  if (domainBits && !((flags & BIT.SAME && same) || (flags & BIT.ONEUP && oneUp))) return false;
  return true;
}

export class LidProgram implements ApprovalAgent {
  readonly pid: number;
  readonly executable?: string;
  private readonly queue: ApprovalRequest[] = [];
  private readonly withdrawn = new Set<string>();
  private waiter?: () => void;

  constructor(
    readonly client: ClientInfo,
    /** The registration bits (REGFLAGS) of the latest registration. */
    public flags: number,
  ) {
    this.pid = client.peer.pid;
    this.executable = client.executable;
  }

  notify(method: 'approval.ask' | 'approval.withdraw', params: unknown): void {
    if (method === 'approval.ask') {
      this.queue.push(params as ApprovalRequest);
    } else {
      const id = (params as { id: string }).id;
      const i = this.queue.findIndex((q) => q.id === id);
      if (i >= 0) this.queue.splice(i, 1);
      else this.withdrawn.add(id);
    }
    this.waiter?.();
  }

  usesRule(rule: DisclosureRule, remote: string): boolean {
    return skipAllows(this.flags, rule, remote);
  }

  /** Whether the question was withdrawn (timed out, its handshake ended) while it was being asked. */
  isWithdrawn(id: string): boolean {
    return this.withdrawn.has(id);
  }

  done(id: string): void {
    this.withdrawn.delete(id);
  }

  /** The next question; rejects with the signal's reason when it aborts. */
  async next(signal: AbortSignal): Promise<ApprovalRequest> {
    for (;;) {
      const q = this.queue.shift();
      if (q) return q;
      if (signal.aborted) throw signal.reason;
      await new Promise<void>((resolve) => {
        const wake = () => {
          signal.removeEventListener('abort', wake);
          this.waiter = undefined;
          resolve();
        };
        signal.addEventListener('abort', wake, { once: true });
        this.waiter = wake;
      });
    }
  }
}
