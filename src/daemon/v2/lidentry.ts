/**
 * V2 LIDENTRY: a local-identity program registers (LIDENTRY_REGISTER) and
 * becomes the pool's approval agent, in the same place the desktop agent
 * takes (disclosure/approval.ts): whoever registers first is asked, the
 * other is refused until it leaves. Each question the approval service
 * has goes to the program as LIDENTRY_CALLBACK, after the matching
 * disclosure rules as DBENTRY callbacks when it asked for them. The answer
 * is the identity to show (empty: none); DBINSERT or DBAPPEND remembers it
 * as a rule. Every wait is bounded by the question's deadline: a program
 * that is late is unregistered, and the question is denied.
 */
import type { ApprovalRequest, RemoteSelector } from '../../model/disclosure';
import type { V2LidEntryPayload, V2Packet } from '../../protocol/v2-codec';
import { V2Cmd, V2LidFlag } from '../../protocol/v2-constants';
import { TlspFailure } from '../../protocol/v2-errors';
import { fitString } from '../../protocol/codec';
import type { ApprovalService } from '../disclosure/approval';
import type { DisclosureRules } from '../disclosure/rules';
import type { Handler, Request } from '../server/request';
import { Failure } from '../../model/failure';
import { LidProgram } from './lid-program';

export interface LidEntryDeps {
  readonly approval: ApprovalService;
  readonly rules: DisclosureRules;
}

/** Seconds a program may take when its registration says 0. */
const DEFAULT_TIMEOUT_S = 300;
const ID_SIZE = 128;

class Late extends Error {}

function lid(reqid: number, p: V2LidEntryPayload): V2Packet {
  return { reqid, cbid: 0, cmd: V2Cmd.LIDENTRY_CALLBACK, lidentry: p };
}

/** The callback's answer, or Late once `deadline` (ms) passes. */
async function ask(req: Request<V2Packet>, packet: V2Packet, deadline: number): Promise<V2Packet> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Late()), Math.max(0, deadline - Date.now()));
  });
  try {
    return await Promise.race([req.callback(packet), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** The project's selector for the key a program answered (a DoNAI selector or a name). */
export function selectorOf(answer: string, q: ApprovalRequest): RemoteSelector {
  let s = answer.trim().toLowerCase();
  if (s.startsWith('@')) s = s.slice(1);
  if (s === '' || s === '.') s = s === '' ? q.selectors[0]! : '*';
  return q.selectors.includes(s) ? s : q.selectors[0]!;
}

function decide(deps: LidEntryDeps, program: LidProgram, q: ApprovalRequest, a: V2LidEntryPayload, log: Request['log']): void {
  const remember = (a.flags & (V2LidFlag.DBINSERT | V2LidFlag.DBAPPEND)) !== 0;
  const lifetime = remember ? 'forever' : 'once';
  const remote = selectorOf(a.remoteid, q);
  let decision: { localid?: string; decision: 'allow' | 'deny' };
  if (a.localid === '' || (a.flags & (V2LidFlag.NEW | V2LidFlag.ONTHEFLY)) !== 0) decision = { decision: 'deny' };
  else if (!q.candidates.includes(a.localid)) {
    log.warn('the local-identity program chose an identity the pool has no credential for', { approval: q.id, localid: a.localid });
    decision = { decision: 'deny' };
  } else decision = { decision: 'allow', localid: a.localid };
  try {
    deps.approval.answer(program, { id: q.id, ...decision, remote, lifetime: decision.decision === 'deny' && !remember ? 'once' : lifetime });
  } catch (e) {
    // Withdrawn or timed out meanwhile: nobody waits for this answer any more.
    if (!(e instanceof Failure)) throw e;
    log.info('a local-identity answer came after its question ended', { approval: q.id, reason: e.message });
  }
}

/** Ask one question of the program; false when the program left the service (ERROR) or was late. */
async function serve(req: Request<V2Packet>, deps: LidEntryDeps, program: LidProgram, q: ApprovalRequest, timeoutS: number): Promise<void> {
  const deadline = Math.min(Date.parse(q.expiresAt), Date.now() + timeoutS * 1000);
  const base = { maxlevels: 0, timeout: Math.floor(deadline / 1000) };
  const reqid = req.packet.reqid;
  if (program.flags & V2LidFlag.WANT_DBENTRY) {
    const entries = deps.rules.list().filter((r) => r.decision === 'allow' && q.selectors.includes(r.remote));
    for (const r of entries) {
      const flags = V2LidFlag.DBENTRY | program.flags;
      const answer = await ask(req, lid(reqid, { ...base, flags, maxlevels: q.selectors.indexOf(r.remote), localid: fitString(r.localid, ID_SIZE), remoteid: r.remote }), deadline);
      if (answer.cmd === V2Cmd.ERROR) throw new Refused();
    }
  }
  const question = lid(reqid, { ...base, flags: program.flags, maxlevels: q.selectors.length - 1, localid: fitString(q.localid, ID_SIZE), remoteid: fitString(q.remote, ID_SIZE) });
  const answer = await ask(req, question, deadline);
  if (answer.cmd === V2Cmd.ERROR) throw new Refused();
  if (!('lidentry' in answer) || answer.cmd !== V2Cmd.LIDENTRY_CALLBACK) {
    throw new TlspFailure('E_TLSPOOL_COMMAND_BAD_CALLBACK_RESPONSE', 'answer a LIDENTRY_CALLBACK with LIDENTRY_CALLBACK (or ERROR to refuse)');
  }
  if (!program.isWithdrawn(q.id)) decide(deps, program, q, answer.lidentry, req.log);
}

/** The program answered ERROR: this question gets no choice, and the program stays registered. */
class Refused extends Error {}

export function lidEntryHandler(deps: LidEntryDeps): Handler<V2Packet> {
  return async (req) => {
    if (!('lidentry' in req.packet)) throw new Error('LIDENTRY_REGISTER handler got another command');
    const reg = req.packet.lidentry;
    const timeoutS = reg.timeout > 0 ? Math.min(reg.timeout, 86400) : DEFAULT_TIMEOUT_S;
    const program = new LidProgram(req.client, reg.flags & V2LidFlag.REGFLAGS);
    try {
      deps.approval.register(program);
    } catch (e) {
      if (e instanceof Failure && e.code === 'EBUSY') throw new TlspFailure('E_TLSPOOL_LIDENTRY_NOT_VACANT', e.message);
      throw e;
    }
    req.log.info('local-identity program registered', { client: req.client.id, pid: program.pid, flags: program.flags, timeout: timeoutS });
    try {
      for (;;) {
        const q = await program.next(req.signal);
        try {
          await serve(req, deps, program, q, timeoutS);
        } catch (e) {
          if (e instanceof Refused) {
            refuse(deps, program, q);
            continue;
          }
          refuse(deps, program, q);
          if (e instanceof Late) throw new Failure('ETIMEDOUT', `no answer to a LIDENTRY question within ${timeoutS} s; register again to be asked`);
          throw e;
        } finally {
          program.done(q.id);
        }
      }
    } finally {
      deps.approval.unregister(program);
    }
  };
}

/** No choice for this question: it is denied, once. */
function refuse(deps: LidEntryDeps, program: LidProgram, q: ApprovalRequest): void {
  if (program.isWithdrawn(q.id)) return;
  try {
    deps.approval.answer(program, { id: q.id, decision: 'deny', lifetime: 'once' });
  } catch {
    // Already over.
  }
}
