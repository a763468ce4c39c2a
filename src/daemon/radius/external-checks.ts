/**
 * External authentication and authorization of a remote peer by RADIUS,
 * asked after TLS validation accepted it: *authn* (is the remote identity
 * known and enabled?) and *authz* (may it talk to this local identity?).
 * A step without a configured server is not asked; SKIP_EXT_AUTHN and
 * BYPASS_EXT_AUTHZ leave a step out when the configuration permits it, and
 * are refused with EPERM when it does not. What the steps said goes into
 * the connection record (`external`) and the log; never the secret.
 */
import type { Config } from '../../config';
import type { VerifyResult } from '../../addon/tls/options';
import { handshakeText } from '../../addon/tls/failure';
import type { Logger } from '../../log/logger';
import type { ConnectionRecord } from '../../model/connection';
import { Failure, messageOf } from '../../model/failure';
import { StartTlsFlag } from '../../protocol/constants';
import { Errno } from '../../protocol/errno';
import { ask, type NoAnswer } from './client';
import { loadDictionaries, type Reply, type Step } from './packet';

type RadiusConfig = Config['radius'];

/** The peer a STARTTLS accepted, and where to write what the servers said. */
export interface ExternalQuery {
  readonly remoteid: string;
  readonly localid: string;
  readonly flags: number;
  /** The requesting program's executable, when known. */
  readonly program?: string;
  readonly peerAddress?: string;
  readonly record: ConnectionRecord;
  readonly log: Logger;
  readonly signal: AbortSignal;
}

const FLAGS = {
  authn: { flag: StartTlsFlag.SKIP_EXT_AUTHN, name: 'SKIP_EXT_AUTHN', key: 'allow_skip_authn', did: 'skipped' },
  authz: { flag: StartTlsFlag.BYPASS_EXT_AUTHZ, name: 'BYPASS_EXT_AUTHZ', key: 'allow_bypass_authz', did: 'bypassed' },
} as const;

/** One step's result: words for the record, a warning, or the refusal. */
interface StepOutcome {
  readonly said: string;
  readonly warning?: string;
  readonly refusal?: Failure;
}

export class ExternalChecks {
  constructor(private readonly config: () => RadiusConfig) {
    const c = config();
    if (c.authn || c.authz) loadDictionaries();
  }

  /** EPERM for a skip flag the configuration does not permit; flags for a step without a server change nothing. */
  checkFlags(flags: number): void {
    const c = this.config();
    for (const step of ['authn', 'authz'] as const) {
      const f = FLAGS[step];
      if (c[step] && flags & f.flag && !c[f.key]) {
        throw new Failure('EPERM', `${f.name} is not permitted here (radius.${f.key}: false); ask the administrator`);
      }
    }
  }

  /** Ask the configured steps in turn; undefined when the peer may go on, else the refusal for the engine. */
  async check(q: ExternalQuery): Promise<VerifyResult | undefined> {
    const c = this.config();
    const said: string[] = [];
    const warnings: string[] = [];
    let refusal: Failure | undefined;
    for (const step of ['authn', 'authz'] as const) {
      if (!c[step]) continue;
      const outcome = await this.step(step, c, q);
      said.push(outcome.said);
      if (outcome.warning) warnings.push(outcome.warning);
      if ((refusal = outcome.refusal)) break;
    }
    if (said.length === 0) return undefined;
    q.record.external = said.join('; ');
    q.log.info('external checks', { connection: q.record.id, remoteid: q.remoteid, localid: q.localid, external: q.record.external });
    if (warnings.length > 0) {
      const warning = warnings.join('; ');
      q.record.warning = q.record.warning ? `${q.record.warning}; ${warning}` : warning;
      q.log.warn('allowed a peer no RADIUS server answered for', { connection: q.record.id, warning });
    }
    if (!refusal) return undefined;
    return { ok: false, errno: refusal.errno, message: refusal.message, alert: 'access_denied' };
  }

  private async step(step: Step, c: RadiusConfig, q: ExternalQuery): Promise<StepOutcome> {
    const f = FLAGS[step];
    if (q.flags & f.flag) return { said: `${step} ${f.did} (${f.name})` };
    const server = c[step]!;
    let answer: Reply | NoAnswer;
    try {
      answer = await ask(
        server,
        { step, remoteid: q.remoteid, localid: q.localid, program: q.program, peerAddress: q.peerAddress, nasIdentifier: c.nas_identifier },
        { timeoutMs: c.timeout * 1000, retransmits: c.retransmits, signal: q.signal, log: q.log },
      );
    } catch (e) {
      if (q.signal.aborted) throw e;
      // The question could not be asked (the secret file, the server's name): a local problem, refused.
      if (!(e instanceof Failure)) q.log.error('a RADIUS question failed unexpectedly', { connection: q.record.id, step, error: e });
      const refusal = new Failure(e instanceof Failure ? e.errno : Errno.EIO, handshakeText`cannot ask RADIUS ${step}: ${messageOf(e)}`);
      return { said: `${step} not asked: ${messageOf(e)}`, refusal };
    }
    return judged(step, server.server, c, q.remoteid, answer);
  }
}

function judged(step: Step, server: string, c: RadiusConfig, remoteid: string, answer: Reply | NoAnswer): StepOutcome {
  if ('timedOut' in answer) {
    const why = `no ${step} answer from RADIUS ${server} in ${c.timeout} s${answer.lastError ? ` (${answer.lastError})` : ''}`;
    if (c.on_timeout === 'allow') return { said: `${step} unanswered, allowed`, warning: `${why}; allowed (radius.on_timeout: allow)` };
    return { said: `${step} unanswered, refused`, refusal: new Failure('ETIMEDOUT', handshakeText`${why}; check the server or radius.on_timeout`) };
  }
  const text = answer.message ? `: ${answer.message}` : '';
  if (answer.code === 'Access-Accept') return { said: `${step} accepted by ${server}${text}` };
  if (answer.code === 'Access-Challenge') {
    return { said: `${step} challenged by ${server}, refused`, refusal: new Failure('EACCES', handshakeText`RADIUS ${step} for ${remoteid} asked a challenge the pool cannot answer`) };
  }
  const reason = answer.message ?? `no Reply-Message; see the log of ${server}`;
  return { said: `${step} rejected by ${server}${text}`, refusal: new Failure('EACCES', handshakeText`RADIUS ${step} refused ${remoteid}: ${reason}`) };
}
