/**
 * STARTTLS_CLIENT and STARTTLS_SERVER, as the protocol text (docs/protocol.md) describes
 * them: check the socket, choose the local identity (asking the application
 * with STARTTLS_LOCALID when it named none), run the handshake in the
 * engine, validate the peer, and answer with the plaintext fd.
 */
import type { Config } from '../../config';
import { adoptFd } from '../../addon/ipc';
import type { PinBroker } from '../pin/broker';
import { tokenRef, type TokenRef } from '../pin/token';
import type { NativeCredentials } from '../../addon/tls/credentials';
import type { Established, PinContext, RejectAlert, StartOptions, VerifyResult } from '../../addon/tls/options';
import { startSession } from '../../addon/tls/session';
import { handshakeText, TlsError } from '../../addon/tls/failure';
import { wire } from '../../protocol/wire-text';
import type { Packet, StartTlsPayload } from '../../protocol/codec';
import { Cmd, StartTlsFlag } from '../../protocol/constants';
import { Errno } from '../../protocol/errno';
import { checkIdentityString } from '../../store/identities';
import { pem } from '../../util/pem';
import type { Handler, Request, Response } from '../server/request';
import type { ApprovalService, DisclosureAnswer, DisclosureQuestion } from '../disclosure/approval';
import type { ConnectionLog } from '../../store/connection-log';
import type { ConnectionRecord, Role } from '../../model/connection';
import { checkStartTlsFd, type Transport } from './fd-check';
import { explainEngineFailure, recordEnd } from './engine-outcome';
import { watchHangup } from './hangup-watch';
import { resumptionScope } from './resumption';
import type { LocalCredentials } from './local-credentials';
import type { PeerCheck, PeerChecks } from './peer-check';
import type { ExternalChecks } from '../radius/external-checks';
import { codeOf, Failure, messageOf } from '../../model/failure';

export interface StartTlsDeps {
  readonly credentials: LocalCredentials;
  /** How remote peers are judged: PKIX, DNSSEC and DANE. */
  readonly peers: PeerChecks;
  /** RADIUS authn and authz of a peer TLS validation accepted. */
  readonly external: ExternalChecks;
  readonly connections: ConnectionLog;
  readonly config: () => Config['tls'];
  /** Called before each STARTTLS: picks up identity, trust and disclosure-rule changes made by the CLI. */
  readonly refresh: () => void;
  /** Where token PINs come from. */
  readonly pin: PinBroker;
  /** Whether a local identity may be shown to the peer. */
  readonly approval: ApprovalService;
}

function checkFlagsAndIds(p: StartTlsPayload, deps: StartTlsDeps): void {
  const unmet = deps.peers.unmet(p.flags);
  if (unmet) throw new Failure('EOPNOTSUPP', `cannot meet ${unmet}`);
  deps.external.checkFlags(p.flags);
  for (const [field, value] of [
    ['localid', p.localid],
    ['remoteid', p.remoteid],
  ] as const) {
    if (!value) continue;
    try {
      checkIdentityString(value);
    } catch {
      throw new Failure('EINVAL', wire`${field} "${value}" is not a domain or user@domain`);
    }
  }
}

/** The domain of an identity: what SEND_SNI sends. */
function domainOf(id: string): string {
  return id.slice(id.lastIndexOf('@') + 1);
}

export function startTlsHandler(deps: StartTlsDeps): Handler {
  return async (req) => {
    if (!('starttls' in req.packet)) throw new Error('STARTTLS handler got another command');
    const p = req.packet.starttls;
    const role: Role = req.packet.cmd === Cmd.STARTTLS_CLIENT ? 'client' : 'server';
    const open = (transport: Transport, peer?: string) =>
      deps.connections.open({
        role,
        transport,
        requester: { ...req.client.peer, executable: req.client.executable, command: req.client.command },
        localid: p.localid,
        remoteid: p.remoteid,
        peer,
      });
    // Every STARTTLS gets a record and a log line, also one refused before any TLS starts.
    let record: ConnectionRecord | undefined;
    try {
      const { transport, peerAddress } = checkStartTlsFd(p, req.fd);
      checkFlagsAndIds(p, deps);
      deps.refresh();
      // A local identity the application names must exist before anything goes
      // on the wire; a client whose server asks no certificate would otherwise
      // be told it is an identity the pool does not have.
      if (p.localid) deps.credentials.get(p.localid);
      record = open(transport, peerAddress);
      return await new StartTlsAttempt(deps, req, p, role, transport, peerAddress, record).run();
    } catch (failure) {
      // Stopped from outside (the daemon shuts down, the application left): that is the reason to give,
      // not how the engine or a pending proposal noticed it (ECANCELED, "the session was aborted").
      const e = req.signal.aborted && req.signal.reason instanceof Failure ? req.signal.reason : failure;
      const code = codeOf(e);
      const started = record !== undefined;
      record ??= open(p.flags & StartTlsFlag.DTLS ? 'dtls' : 'tls');
      deps.connections.ended(record, started ? 'handshake failed' : 'refused', { errno: code, message: messageOf(e) });
      req.log.info('STARTTLS failed', { connection: record.id, client: req.client.id, role, errno: code, reason: messageOf(e) });
      throw e;
    }
  };
}

/**
 * One STARTTLS from the engine's start to the answer: which local identity
 * to show (asking the application and the approval agent), whether the peer
 * is acceptable, the PINs its key needs, and the record of what was agreed.
 */
class StartTlsAttempt {
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

  constructor(
    private readonly deps: StartTlsDeps,
    private readonly req: Request,
    private readonly p: StartTlsPayload,
    private readonly role: Role,
    private readonly transport: Transport,
    private readonly peerAddress: string | undefined,
    private readonly record: ConnectionRecord,
  ) {
    this.config = deps.config();
    this.ignoreRemote = (p.flags & StartTlsFlag.IGNORE_REMOTEID) !== 0;
    this.requestOnly = (p.flags & StartTlsFlag.REQUEST_REMOTEID) !== 0;
    this.anonymous = this.ignoreRemote && p.localid === '';
    this.localid = p.localid;
    this.requester = { pid: req.client.peer.pid, executable: req.client.executable, command: req.client.command };
    this.peerCheck = deps.peers.begin({ role, transport, remoteid: p.remoteid, peerAddress, flags: p.flags });
  }

  async run(): Promise<Response> {
    const { req } = this;
    req.signal.addEventListener('abort', this.stopAsking, { once: true });
    const established = await startSession(this.sessionOptions(), recordEnd(this.deps.connections, this.record))
      .catch((e: unknown) => {
        throw this.peerRefusedOurs(e) ?? explainEngineFailure(e, this.role, this.transport, this.config.handshake_timeout);
      })
      .finally(() => {
        req.signal.removeEventListener('abort', this.stopAsking);
        this.stopAsking();
      });
    return this.answer(established);
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
      serverName: role === 'client' && p.flags & StartTlsFlag.SEND_SNI && p.remoteid ? domainOf(p.remoteid) : undefined,
      certRequest: role === 'server' ? (this.ignoreRemote ? 'ignore' : this.requestOnly ? 'request' : 'require') : undefined,
      anonymous: this.anonymous,
      handshakeTimeoutMs: config.handshake_timeout * 1000,
      resumption: resumptionScope(role, p, this.transport, this.anonymous),
      acceptAnyPeer: this.ignoreRemote,
      signal: req.signal,
      presetCredentials: this.presetCredentials(),
      credentials: (ctx) => this.chooseLocal(ctx.serverName),
      verifyPeer: (ctx) => this.verifyPeer(ctx.chainDer),
      pin: (ctx) => this.pin(ctx),
    };
  }

  /**
   * A server told which identity to show, and allowed to by a rule or the
   * default: its credentials go to the engine with the session, which spares
   * the handshake a wait for this thread. (A denial is left to the handshake,
   * which tells the client with an alert.)
   */
  private presetCredentials(): NativeCredentials | undefined {
    if (this.role !== 'server' || !this.p.localid) return undefined;
    const q = this.question(this.p.localid, undefined);
    const answer = this.deps.approval.settled(q);
    return answer?.decision === 'allow' ? (this.disclose(q, answer) ?? undefined) : undefined;
  }

  /** Which identity to show, before asking whether it may be shown. */
  private async pickLocal(sni: string | undefined): Promise<string | null> {
    const { role, deps } = this;
    if (this.localid) return this.localid;
    // The application named none: propose candidates one at a time.
    const candidates = role === 'server' && sni ? [sni, ...deps.credentials.candidates().filter((c) => c !== sni)] : deps.credentials.candidates();
    if (this.anonymous && !sni) return null;
    for (const candidate of candidates) {
      const answer = await proposeLocalId(this.req, this.p, candidate);
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

  private async verifyPeer(chainDer: Buffer[]): Promise<VerifyResult> {
    if (this.ignoreRemote) return { ok: true };
    if (chainDer.length === 0 && (this.requestOnly || this.anonymous)) return { ok: true };
    const { verdict, validation, warning } = await this.peerCheck.judge(chainDer);
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

  /** Record what was agreed, and answer with the plaintext fd. */
  private answer(established: Established): Response {
    const { record, localid, remoteid, req } = this;
    const plaintext = adoptFd(established.plaintextFd);
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
    const response: Packet = {
      reqid: req.packet.reqid,
      cbid: 0,
      cmd: req.packet.cmd as typeof Cmd.STARTTLS_CLIENT,
      starttls: { ...this.p, localid, remoteid },
    };
    return { packet: response, fd: plaintext };
  }
}

/**
 * Ask the application about a local identity: it accepts it as is, changes
 * it, or refuses it with an empty string.
 */
async function proposeLocalId(req: Request, p: StartTlsPayload, candidate: string): Promise<string> {
  const answer = await req.callback({
    reqid: req.packet.reqid,
    cbid: 0,
    cmd: Cmd.STARTTLS_LOCALID,
    starttls: { ...p, localid: candidate },
  });
  if (!('starttls' in answer) || answer.cmd !== Cmd.STARTTLS_LOCALID) {
    throw new Failure('EINVAL', 'the answer to a STARTTLS_LOCALID proposal must be a STARTTLS_LOCALID');
  }
  const chosen = answer.starttls.localid;
  if (chosen) checkIdentityString(chosen);
  return chosen;
}
