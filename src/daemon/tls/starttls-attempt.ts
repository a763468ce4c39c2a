/**
 * One STARTTLS from the engine's start to the answer, whatever protocol
 * asked for it: the local identity to show (asking the application and the
 * approval agent), whether the peer is acceptable, the PINs its key needs,
 * and the record of what was agreed. What differs between V1 and V2 (the
 * callbacks, the answer, who brings the plaintext socket) is asked of a
 * StartTlsProtocol.
 */
import type { Config } from '../../config';
import { tokenRef, type TokenRef } from '../pin/token';
import type { NativeCredentials } from '../../addon/tls/credentials';
import type { Established, PinContext, RejectAlert, SessionEnd, StartOptions, VerifyResult } from '../../addon/tls/options';
import { startSession } from '../../addon/tls/session';
import { handshakeText, TlsError } from '../../addon/tls/failure';
import { wire } from '../../protocol/wire-text';
import type { StartTlsPayload } from '../../protocol/codec';
import { StartTlsFlag } from '../../protocol/constants';
import { Errno } from '../../protocol/errno';
import { pem } from '../../util/pem';
import type { Request, Response } from '../server/request';
import type { DisclosureAnswer, DisclosureQuestion } from '../disclosure/approval';
import type { ConnectionRecord, Role } from '../../model/connection';
import type { Transport } from './fd-check';
import { explainEngineFailure, recordEnd } from './engine-outcome';
import { watchHangup } from './hangup-watch';
import { resumptionScope } from './resumption';
import type { PeerCheck } from './peer-check';
import { Failure } from '../../model/failure';
import type { StartTlsDeps } from './starttls';

/** What an attempt uses of its request, whatever its protocol. */
export type AttemptRequest = Pick<Request<unknown>, 'fd' | 'client' | 'signal' | 'log'>;

/** What was agreed, for the protocol's answer. */
export interface Agreed {
  readonly established: Established;
  readonly localid: string;
  readonly remoteid: string;
}

/** How one protocol (V1, V2) asks, and answers, a STARTTLS. */
export interface StartTlsProtocol {
  /** The request in V1 terms (V2 flags translated): what validation, resumption and DNS checks read. */
  readonly payload: StartTlsPayload;
  readonly role: Role;
  /** Client: the name sent as SNI, if any. */
  readonly serverName: string | undefined;
  /** The handshake bound, when the request sets its own. */
  readonly handshakeTimeoutMs?: number;
  /** A local identity the application named is proposed to it too (V2 LOCALID_CHECK). */
  readonly confirmNamed: boolean;
  /** Server: the SNI the client sent must fit the named local identity (V2). */
  readonly sniMustFit: boolean;
  /** Ask the application about a local identity: accepted as is, changed, or '' for refused. */
  propose(candidate: string, remoteid: string): Promise<string>;
  /** The application brings the plaintext socket (V2); the engine takes it. */
  readonly plaintext?: (agreed: { localid: string; remoteid: string }) => Promise<number>;
  /** The final answer; may throw (the session is then aborted). */
  answer(agreed: Agreed): Response<unknown>;
  /** The established session ended (after answer). */
  ended?(end: SessionEnd): void;
}

/** One STARTTLS, from the engine's start to the protocol's answer. */
export class StartTlsAttempt {
  private readonly config: Config['tls'];
  private readonly ignoreRemote: boolean;
  private readonly requestOnly: boolean;
  /** Both sides allow anonymous TLS when neither wants identities. */
  private readonly anonymous: boolean;
  private readonly requester: { pid: number; executable?: string; command?: string[] };
  /** The identities agreed so far: what the answer and the record say. */
  private localid: string;
  private remoteid = '';
  /** Why the peer may refuse the certificate we showed (it expired), if it may. */
  private refusable: string | undefined;
  /** A disclosure question lives as long as the handshake: withdrawn when the application leaves or the handshake ends. */
  private asking: AbortController | undefined;
  /** The tokens this handshake asked a PIN for, by key: once it is established, their PINs were right. */
  private readonly pinTokens = new Map<string, TokenRef>();
  /** The judgement of the peer, begun with the attempt so that its lookups run beside the handshake. */
  private readonly peerCheck: PeerCheck;
  private readonly stopAsking = () => this.asking?.abort(this.req.signal.reason ?? new Failure('ECANCELED', 'the handshake ended'));
  private readonly p: StartTlsPayload;
  private readonly role: Role;

  constructor(
    private readonly deps: StartTlsDeps,
    private readonly req: AttemptRequest,
    private readonly proto: StartTlsProtocol,
    private readonly transport: Transport,
    private readonly peerAddress: string | undefined,
    private readonly record: ConnectionRecord,
  ) {
    const p = (this.p = proto.payload);
    const role = (this.role = proto.role);
    this.config = deps.config();
    this.ignoreRemote = (p.flags & StartTlsFlag.IGNORE_REMOTEID) !== 0;
    this.requestOnly = (p.flags & StartTlsFlag.REQUEST_REMOTEID) !== 0;
    this.anonymous = this.ignoreRemote && p.localid === '';
    this.localid = p.localid;
    this.requester = { pid: req.client.peer.pid, executable: req.client.executable, command: req.client.command };
    this.peerCheck = deps.peers.begin({ role, transport, remoteid: p.remoteid, peerAddress, flags: p.flags });
  }

  async run(): Promise<Response<unknown>> {
    const { req } = this;
    req.signal.addEventListener('abort', this.stopAsking, { once: true });
    const logEnd = recordEnd(this.deps.connections, this.record);
    const onEnd = (end: SessionEnd) => {
      logEnd(end);
      this.proto.ended?.(end);
    };
    const established = await startSession(this.sessionOptions(), onEnd)
      .catch((e: unknown) => {
        throw this.peerRefusedOurs(e) ?? explainEngineFailure(e, this.role, this.transport, this.config.handshake_timeout);
      })
      .finally(() => {
        req.signal.removeEventListener('abort', this.stopAsking);
        this.stopAsking();
      });
    try {
      return this.answer(established);
    } catch (e) {
      established.session.abort();
      throw e;
    }
  }

  /**
   * The peer ended the handshake after we showed a certificate it will not
   * take (expired): say so, rather than the engine's words (with TLS 1.3
   * GnuTLS reports the peer's alert as "Decryption has failed").
   */
  private peerRefusedOurs(e: unknown): Failure | undefined {
    if (!this.refusable || !(e instanceof TlsError)) return undefined;
    if (e.kind !== 'alert' && e.gnutls !== 'GNUTLS_E_DECRYPTION_FAILED') return undefined;
    return new Failure('EKEYEXPIRED', wire`the peer refused our certificate for ${this.localid} (${this.refusable}); renew it`, { cause: e });
  }

  private sessionOptions(): StartOptions {
    const { p, role, config, req } = this;
    return {
      fd: req.fd!.fd,
      role,
      transport: this.transport,
      priority: config.priority,
      serverName: role === 'client' ? this.proto.serverName : undefined,
      certRequest: role === 'server' ? (this.ignoreRemote ? 'ignore' : this.requestOnly ? 'request' : 'require') : undefined,
      anonymous: this.anonymous,
      handshakeTimeoutMs: this.proto.handshakeTimeoutMs ?? config.handshake_timeout * 1000,
      resumption: resumptionScope(role, p, this.transport, this.anonymous),
      acceptAnyPeer: this.ignoreRemote,
      signal: req.signal,
      presetCredentials: this.presetCredentials(),
      credentials: (ctx) => this.chooseLocal(ctx.serverName),
      verifyPeer: (ctx) => this.verifyPeer(ctx.chainDer, ctx.ocspDer),
      pin: (ctx) => this.pin(ctx),
      ...(this.proto.plaintext ? { plaintext: () => this.proto.plaintext!({ localid: this.localid, remoteid: this.remoteid }) } : {}),
    };
  }

  /**
   * A server told which identity to show, and allowed to by a rule or the
   * default: its credentials go to the engine with the session, which spares
   * the handshake a wait for this thread. (A denial is left to the handshake,
   * which tells the client with an alert.)
   */
  private presetCredentials(): NativeCredentials | undefined {
    if (this.role !== 'server' || !this.p.localid || this.proto.confirmNamed || this.proto.sniMustFit) return undefined;
    const q = this.question(this.p.localid, undefined);
    const answer = this.deps.approval.settled(q);
    return answer?.decision === 'allow' ? (this.disclose(q, answer) ?? undefined) : undefined;
  }

  /** Which identity to show, before asking whether it may be shown. */
  private async pickLocal(sni: string | undefined): Promise<string | null> {
    const { role, deps } = this;
    if (this.localid) return this.confirmNamed(sni);
    // The application named none: propose candidates one at a time.
    const candidates = role === 'server' && sni ? [sni, ...deps.credentials.candidates().filter((c) => c !== sni)] : deps.credentials.candidates();
    if (this.anonymous && !sni) return null;
    for (const candidate of candidates) {
      const answer = await this.proto.propose(candidate, this.p.remoteid || (role === 'server' ? '' : (sni ?? '')));
      if (answer === '') continue;
      return answer;
    }
    if (role === 'client') return null; // The server may still accept us without a certificate.
    // The client learns why: the name it asked for is not served here, or nothing could be agreed.
    throw Object.assign(
      new Failure('ENOKEY', sni ? handshakeText`no local identity for ${sni} was accepted` : 'no local identity was accepted'),
      { alert: sni ? 'unrecognized_name' : 'handshake_failure' } satisfies { alert: RejectAlert },
    );
  }

  /** A named local identity: it must fit the SNI (V2), and the application may be asked to confirm it. */
  private async confirmNamed(sni: string | undefined): Promise<string> {
    const named = this.localid;
    if (this.role === 'server' && sni && this.proto.sniMustFit && domainOf(named).toLowerCase() !== sni.toLowerCase()) {
      throw Object.assign(new Failure('ENOKEY', handshakeText`the client asked for ${sni}, which is not ${named}`), {
        alert: 'unrecognized_name',
      } satisfies { alert: RejectAlert });
    }
    if (!this.proto.confirmNamed) return named;
    const answer = await this.proto.propose(named, this.p.remoteid);
    if (!answer) throw Object.assign(new Failure('EACCES', handshakeText`the application refused ${named} as local identity`), { alert: 'access_denied' } satisfies { alert: RejectAlert });
    return answer;
  }

  /**
   * May `picked` be shown to this peer? Asked of the rules, then the approval
   * agent or disclosure.default. An identity the application named is the
   * only candidate: a rule or a person may allow or deny it, never swap it.
   */
  private question(picked: string, sni: string | undefined): DisclosureQuestion {
    const candidates = this.p.localid ? [picked] : this.deps.credentials.candidates();
    return {
      connectionId: this.record.id,
      role: this.role,
      remote: this.p.remoteid || (this.role === 'client' ? sni : undefined) || this.peerAddress || 'unknown peer',
      localid: picked,
      candidates: candidates.includes(picked) ? [picked, ...candidates.filter((c) => c !== picked)] : [picked, ...candidates],
      requester: this.requester,
    };
  }

  private disclose(q: DisclosureQuestion, answer: DisclosureAnswer): NativeCredentials | null {
    this.req.log.info('disclosure', { connection: this.record.id, localid: q.localid, remote: q.remote, decision: answer.decision, shown: answer.localid, by: answer.by });
    if (answer.decision === 'allow') {
      this.localid = answer.localid;
      this.refusable = this.deps.credentials.refusable(answer.localid);
      if (this.refusable) this.req.log.warn('showing a certificate peers will refuse', { connection: this.record.id, localid: answer.localid, reason: this.refusable });
      return this.deps.credentials.get(answer.localid);
    }
    this.localid = '';
    // A client shows no certificate and lets the server decide; a server cannot go on without one.
    if (this.role === 'client') return null;
    throw Object.assign(
      new Failure('EACCES', handshakeText`showing ${q.localid} to ${q.remote} was denied; see: tlspool rules list, disclosure.default`),
      { alert: 'access_denied' } satisfies { alert: RejectAlert },
    );
  }

  private async chooseLocal(sni: string | undefined): Promise<NativeCredentials | null> {
    const picked = await this.pickLocal(sni);
    if (picked === null) return null;
    const q = this.question(picked, sni);
    const ask = (this.asking ??= new AbortController());
    // A peer that gives up while a person is asked withdraws the question.
    const peer = this.peerAddress ?? 'the peer';
    const unwatch = watchHangup(this.req.fd!, () => ask.abort(new Failure('ECONNRESET', wire`${peer} hung up while the approval was asked`)));
    const answer = await this.deps.approval.decide(q, ask.signal).finally(() => {
      unwatch();
      this.asking = undefined;
    });
    return this.disclose(q, answer);
  }

  private async verifyPeer(chainDer: Buffer[], ocspDer?: Buffer): Promise<VerifyResult> {
    if (this.ignoreRemote) return { ok: true };
    if (chainDer.length === 0 && (this.requestOnly || this.anonymous)) return { ok: true };
    const { verdict, validation, warning } = await this.peerCheck.judge(chainDer, ocspDer);
    this.record.validation = validation;
    if (warning) {
      this.record.warning = warning;
      this.req.log.warn('going on without a check the peer could have had', { connection: this.record.id, warning });
    }
    if (!verdict.ok) return { ok: false, errno: Errno[verdict.code], message: verdict.message, alert: verdict.alert };
    const { p, req, requester } = this;
    const query = { remoteid: verdict.remoteid, localid: this.localid, flags: p.flags, program: requester.executable, peerAddress: this.peerAddress };
    const refused = await this.deps.external.check({ ...query, record: this.record, log: req.log, signal: req.signal });
    if (refused) return refused;
    this.remoteid = verdict.remoteid;
    return { ok: true };
  }

  private askedFor(token: TokenRef): TokenRef {
    if (!this.pinTokens.has(token.key)) this.pinTokens.set(token.key, token);
    return token;
  }

  private pin(ctx: PinContext): Promise<Uint8Array> {
    const { p, peerAddress } = this;
    return this.deps.pin.request(
      {
        token: this.askedFor(tokenRef(ctx.tokenUrl, ctx.tokenLabel)),
        keyUri: ctx.keyUri,
        attempt: ctx.attempt,
        wrong: ctx.wrong,
        finalTry: ctx.finalTry,
        countLow: ctx.countLow,
        requester: this.requester,
        peer: p.remoteid ? (peerAddress ? `${p.remoteid} (${peerAddress})` : p.remoteid) : peerAddress,
      },
      this.req.signal,
    );
  }

  /** Record what was agreed, and let the protocol answer. */
  private answer(established: Established): Response<unknown> {
    const { record, localid, remoteid, req } = this;
    const response = this.proto.answer({ established, localid, remoteid });
    Object.assign(record, {
      localid,
      remoteid,
      sni: established.serverName,
      version: established.version,
      cipher: established.cipher,
      peerChain: established.peerChainDer.map((der) => pem('CERTIFICATE', der)),
    });
    this.deps.connections.established(record);
    for (const t of this.pinTokens.values()) this.deps.pin.accepted(t);
    // After a renegotiation the record shows what the session uses now; the
    // peer's own are logged here (the application's are V2 RENEGOTIATE's to tell).
    const log = req.log;
    established.session.onRenegotiated((r) => {
      if (r.outcome === 'done') Object.assign(record, { version: r.version, cipher: r.cipher });
      if (!r.byPeer) return;
      const facts = { connection: record.id, outcome: r.outcome, version: r.version, cipher: r.cipher, reason: r.message };
      if (r.outcome === 'done') log.info('the peer renegotiated the TLS session', facts);
      else log.warn('a renegotiation the peer asked for failed', facts);
    });
    req.log.info('STARTTLS established', {
      connection: record.id,
      client: req.client.id,
      role: this.role,
      localid,
      remoteid,
      version: established.version,
      cipher: established.cipher,
      resumed: established.resumed,
    });
    return response;
  }
}

/** The domain of an identity: what SNI sends, and what a server's SNI must name. */
export function domainOf(id: string): string {
  return id.slice(id.lastIndexOf('@') + 1);
}
