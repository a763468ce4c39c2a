/**
 * Disclosure approval: before the pool shows a local identity to a remote
 * peer, the rules decide; without a matching rule the registered approval
 * agent (the desktop app) is asked, and without an agent `disclosure.default`
 * applies. A question nobody answers within `disclosure.approval_timeout`
 * is a deny. One agent at a time; when it leaves, its open questions fall
 * back to the default as if it had never been there.
 */
import * as crypto from 'node:crypto';
import type { ApprovalDecision, ApprovalRequest, Disclosure, DisclosureRule, RemoteSelector } from '../../model/disclosure';
import type { EventBus } from '../../events/bus';
import type { DisclosureRules } from './rules';
import { selectorsFor } from './rules';
import type { Logger } from '../../log/logger';
import { Failure } from '../../model/failure';

/** The connection that registered as approval agent: how to send it a notification. */
export interface ApprovalAgent {
  readonly pid: number;
  readonly executable?: string;
  notify(method: 'approval.ask' | 'approval.withdraw', params: unknown): void;
  /**
   * Whether a rule that matched may be used without asking this agent (a
   * V2 LIDENTRY program's SKIP_ flags); without it, every matching rule is.
   */
  usesRule?(rule: DisclosureRule, remote: string): boolean;
}

export interface ApprovalConfig {
  /** Seconds a question waits for an answer. */
  readonly timeout: number;
  /** What applies with no rule and no agent. */
  readonly fallback: Disclosure;
}

/** What a STARTTLS wants to show, and to whom. */
export interface DisclosureQuestion {
  readonly connectionId: number;
  readonly role: 'client' | 'server';
  readonly remote: string;
  readonly localid: string;
  /** Every identity that could be shown, default first. */
  readonly candidates: string[];
  readonly requester: { readonly pid: number; readonly executable?: string; readonly command?: readonly string[] };
}

export interface DisclosureAnswer {
  readonly decision: Disclosure;
  /** The identity to show with allow. */
  readonly localid: string;
  /** How it was reached, for the log. */
  readonly by: 'rule' | 'default' | 'agent' | 'timeout';
}

interface Pending {
  readonly request: ApprovalRequest;
  settle(answer: DisclosureAnswer): void;
  /** The agent left: the question goes back to the default. */
  orphan(): void;
}

export class ApprovalService {
  private agent: ApprovalAgent | undefined;
  private readonly pending = new Map<string, Pending>();

  constructor(
    private readonly rules: DisclosureRules,
    private readonly config: () => ApprovalConfig,
    private readonly bus: EventBus,
    private readonly log: Logger,
  ) {}

  get registered(): { pid: number; executable?: string } | null {
    return this.agent ? { pid: this.agent.pid, executable: this.agent.executable } : null;
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  register(agent: ApprovalAgent): void {
    if (this.agent === agent) return;
    if (this.agent) {
      const who = `${this.agent.executable ?? 'a program'} [${this.agent.pid}]`;
      throw new Failure('EBUSY', `the approval agent is ${who}; only one may be registered, close it first`);
    }
    this.agent = agent;
    this.log.info('approval agent registered', { pid: agent.pid, executable: agent.executable });
    this.bus.emit({ type: 'approval-agent-registered', pid: agent.pid, executable: agent.executable });
  }

  /** The agent's connection closed. */
  unregister(agent: ApprovalAgent): void {
    if (this.agent !== agent) return;
    this.agent = undefined;
    this.log.info('approval agent left', { pid: agent.pid, pending: this.pending.size });
    this.bus.emit({ type: 'approval-agent-left', pid: agent.pid });
    for (const p of [...this.pending.values()]) p.orphan();
  }

  isAgent(agent: ApprovalAgent): boolean {
    return this.agent === agent;
  }

  /**
   * Whether `q.localid` (or another candidate) may be shown. Rejects with
   * the signal's reason when the STARTTLS ends first (the question is then
   * withdrawn from the agent).
   */
  async decide(q: DisclosureQuestion, signal: AbortSignal): Promise<DisclosureAnswer> {
    return this.settled(q) ?? this.ask(this.agent!, q, signal);
  }

  /** The answer when a rule or the default gives it; undefined when the agent would be asked. */
  settled(q: DisclosureQuestion): DisclosureAnswer | undefined {
    const verdict = this.rules.evaluate(q.localid, q.remote, q.candidates);
    if (verdict && (this.agent?.usesRule?.(verdict.rule, q.remote) ?? true)) return { decision: verdict.decision, localid: verdict.localid, by: 'rule' };
    if (!this.agent) return { decision: this.config().fallback, localid: q.localid, by: 'default' };
    return undefined;
  }

  /** The agent's answer to one of its questions. */
  answer(from: ApprovalAgent, d: ApprovalDecision): void {
    if (this.agent !== from) throw new Failure('EPERM', 'only the registered approval agent may decide; call approval.register first');
    const p = this.pending.get(d.id);
    if (!p) throw new Failure('ENOENT', `no pending approval ${d.id}: it was decided, withdrawn or timed out`);
    const r = p.request;
    const localid = d.localid ?? r.localid;
    const remote = d.remote ?? r.selectors[0]!;
    if (!r.candidates.includes(localid)) {
      throw new Failure('EINVAL', `localid must be one of the candidates: ${r.candidates.join(', ')}`);
    }
    if (!r.selectors.includes(remote)) {
      throw new Failure('EINVAL', `remote must be one of the selectors: ${r.selectors.join(', ')}`);
    }
    if (d.lifetime !== 'once') {
      const rule = this.rules.add(localid, remote, d.decision, d.lifetime);
      this.log.info('disclosure rule added', { ...rule });
      this.bus.emit({ type: 'rules-changed' });
    }
    p.settle({ decision: d.decision, localid, by: 'agent' });
  }

  private ask(agent: ApprovalAgent, q: DisclosureQuestion, signal: AbortSignal): Promise<DisclosureAnswer> {
    if (signal.aborted) return Promise.reject(signal.reason);
    const timeoutMs = this.config().timeout * 1000;
    const now = Date.now();
    const request: ApprovalRequest = {
      id: crypto.randomUUID(),
      connectionId: q.connectionId,
      role: q.role,
      remote: q.remote,
      selectors: selectorsFor(q.remote) as RemoteSelector[],
      localid: q.localid,
      candidates: q.candidates,
      requester: q.requester,
      askedAt: new Date(now).toISOString(),
      expiresAt: new Date(now + timeoutMs).toISOString(),
    };
    return new Promise<DisclosureAnswer>((resolve, reject) => {
      const finish = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        this.pending.delete(request.id);
      };
      const decided = (decision: Disclosure, localid: string, by: 'agent' | 'timeout' | 'withdrawn') => {
        this.log.info('disclosure decided', { approval: request.id, connection: q.connectionId, decision, localid, by });
        this.bus.emit({ type: 'approval-decided', id: request.id, connectionId: q.connectionId, decision, by, localid });
      };
      const withdraw = (reason: string) => {
        if (this.agent === agent) agent.notify('approval.withdraw', { id: request.id, reason });
      };
      const onAbort = () => {
        finish();
        // The reason the handshake gives (the peer hung up, the application left), else the general one.
        const why: unknown = signal.reason;
        withdraw(why instanceof Error && why.message ? why.message : 'the connection ended before an answer');
        decided('deny', q.localid, 'withdrawn');
        reject(signal.reason);
      };
      const timer = setTimeout(() => {
        finish();
        withdraw(`no answer within ${this.config().timeout} s`);
        const a: DisclosureAnswer = { decision: 'deny', localid: q.localid, by: 'timeout' };
        decided(a.decision, a.localid, 'timeout');
        resolve(a);
      }, timeoutMs);
      signal.addEventListener('abort', onAbort, { once: true });
      this.pending.set(request.id, {
        request,
        settle: (a) => {
          finish();
          decided(a.decision, a.localid, 'agent');
          resolve(a);
        },
        orphan: () => {
          finish();
          const a: DisclosureAnswer = { decision: this.config().fallback, localid: q.localid, by: 'default' };
          decided(a.decision, a.localid, 'withdrawn');
          resolve(a);
        },
      });
      this.log.info('disclosure asked', { approval: request.id, connection: q.connectionId, localid: q.localid, remote: q.remote });
      agent.notify('approval.ask', request);
      this.bus.emit({ type: 'approval-asked', approval: request });
    });
  }
}
