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
import { type NativeCredentials, type RejectAlert, type SessionEnd, startSession, TlsError, type VerifyResult } from '../../addon/tls';
import type { Packet, StartTlsPayload } from '../../protocol/codec';
import { Cmd, StartTlsFlag } from '../../protocol/constants';
import { Errno } from '../../protocol/errno';
import { checkIdentityString } from '../../store/identities';
import { pem } from '../../util/pem';
import { type Handler, ProtocolError, type Request } from '../server/request';
import type { ApprovalService, DisclosureAnswer, DisclosureQuestion } from '../disclosure/approval';
import type { ConnectionLog } from '../../store/connection-log';
import type { ConnectionRecord, Role } from '../../model/connection';
import { checkStartTlsFd } from './fd-check';
import { resumptionScope } from './resumption';
import type { LocalCredentials } from './local-credentials';
import type { Validator } from './validation';

export interface StartTlsDeps {
  readonly credentials: LocalCredentials;
  readonly validator: Validator;
  readonly connections: ConnectionLog;
  readonly config: () => Config['tls'];
  /** Called before each STARTTLS: picks up identity, trust and disclosure-rule changes made by the CLI. */
  readonly refresh: () => void;
  /** Where token PINs come from. */
  readonly pin: PinBroker;
  /** Whether a local identity may be shown to the peer. */
  readonly approval: ApprovalService;
}

/** Requirements the pool cannot meet yet: an ERROR, never silently dropped. */
const UNMET = [
  [StartTlsFlag.REQUIRE_DNSSEC, 'REQUIRE_DNSSEC: this pool has no DNSSEC-validating resolver'],
  [StartTlsFlag.REQUIRE_LDAP_CERT, 'REQUIRE_LDAP_CERT: this pool does no LDAP lookups'],
  [StartTlsFlag.REQUIRE_LDAP_DANE, 'REQUIRE_LDAP_DANE: this pool does no LDAP lookups'],
] as const;

function checkFlagsAndIds(p: StartTlsPayload): void {
  for (const [flag, why] of UNMET) {
    if (p.flags & flag) throw new ProtocolError('EOPNOTSUPP', `cannot meet ${why}`);
  }
  for (const [field, value] of [
    ['localid', p.localid],
    ['remoteid', p.remoteid],
  ] as const) {
    if (!value) continue;
    try {
      checkIdentityString(value);
    } catch {
      throw new ProtocolError('EINVAL', `${field} "${value}" is not a domain or user@domain`);
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
    const { transport, peerAddress } = checkStartTlsFd(p, req.fd);
    checkFlagsAndIds(p);
    deps.refresh();
    // A local identity the application names must exist before anything goes
    // on the wire; a client whose server asks no certificate would otherwise
    // be told it is an identity the pool does not have.
    if (p.localid) deps.credentials.get(p.localid);
    const role: Role = req.packet.cmd === Cmd.STARTTLS_CLIENT ? 'client' : 'server';
    const record = deps.connections.open({
      role,
      transport,
      requester: { ...req.client.peer, executable: req.client.executable },
      localid: p.localid,
      remoteid: p.remoteid,
    });
    try {
      return await handshake(deps, req, p, role, { transport, peerAddress }, record);
    } catch (failure) {
      // Stopped from outside (the daemon shuts down, the application left): that is the reason to give,
      // not how the engine or a pending proposal noticed it (ECANCELED, "the session was aborted").
      const e = req.signal.aborted && req.signal.reason instanceof ProtocolError ? req.signal.reason : failure;
      const err = e as Partial<TlsError> & Error;
      const code = typeof err.code === 'string' && err.code in Errno ? err.code : 'EIO';
      deps.connections.ended(record, 'handshake failed', { errno: code, message: err.message });
      req.log.info('STARTTLS failed', { connection: record.id, client: req.client.id, role, errno: code, reason: err.message });
      throw e;
    }
  };
}

async function handshake(
  deps: StartTlsDeps,
  req: Request,
  p: StartTlsPayload,
  role: Role,
  { transport, peerAddress }: { transport: 'tls' | 'dtls'; peerAddress?: string },
  record: ConnectionRecord,
) {
  const config = deps.config();
  const ignoreRemote = (p.flags & StartTlsFlag.IGNORE_REMOTEID) !== 0;
  const requestOnly = (p.flags & StartTlsFlag.REQUEST_REMOTEID) !== 0;
  // Both sides allow anonymous TLS when neither wants identities.
  const anonymous = ignoreRemote && p.localid === '';
  let localid = p.localid;
  let remoteid = '';

  // Which identity to show, before asking whether it may be shown.
  const pickLocal = async (sni: string | undefined): Promise<string | null> => {
    if (localid) return localid;
    // The application named none: propose candidates one at a time.
    const candidates = role === 'server' && sni ? [sni, ...deps.credentials.candidates().filter((c) => c !== sni)] : deps.credentials.candidates();
    if (anonymous && !sni) return null;
    for (const candidate of candidates) {
      const answer = await proposeLocalId(req, p, candidate);
      if (answer === '') continue;
      return answer;
    }
    if (role === 'client') return null; // The server may still accept us without a certificate.
    // The client learns why: the name it asked for is not served here, or nothing could be agreed.
    throw Object.assign(
      new ProtocolError('ENOKEY', sni ? `no local identity for ${sni} was accepted` : 'no local identity was accepted'),
      { alert: sni ? 'unrecognized_name' : 'handshake_failure' } satisfies { alert: RejectAlert },
    );
  };

  // May `picked` be shown to this peer? Asked of the rules, then the approval agent or disclosure.default.
  const question = (picked: string, sni: string | undefined): DisclosureQuestion => {
    const candidates = deps.credentials.candidates();
    return {
      connectionId: record.id,
      role,
      remote: p.remoteid || (role === 'client' ? sni : undefined) || peerAddress || 'unknown peer',
      localid: picked,
      candidates: candidates.includes(picked) ? [picked, ...candidates.filter((c) => c !== picked)] : [picked, ...candidates],
      requester,
    };
  };
  const disclose = (q: DisclosureQuestion, answer: DisclosureAnswer): NativeCredentials | null => {
    req.log.info('disclosure', { connection: record.id, localid: q.localid, remote: q.remote, decision: answer.decision, shown: answer.localid, by: answer.by });
    if (answer.decision === 'allow') {
      localid = answer.localid;
      return deps.credentials.get(answer.localid);
    }
    localid = '';
    // A client shows no certificate and lets the server decide; a server cannot go on without one.
    if (role === 'client') return null;
    throw Object.assign(
      new ProtocolError('EACCES', `showing ${q.localid} to ${q.remote} was denied (a disclosure rule, the approval agent, or disclosure.default); see: tlspool rules list`),
      { alert: 'access_denied' } satisfies { alert: RejectAlert },
    );
  };
  const chooseLocal = async (sni: string | undefined): Promise<NativeCredentials | null> => {
    const picked = await pickLocal(sni);
    if (picked === null) return null;
    const q = question(picked, sni);
    asking ??= new AbortController();
    const answer = await deps.approval.decide(q, asking.signal).finally(() => (asking = undefined));
    return disclose(q, answer);
  };

  const verifyPeer = (chainDer: Buffer[]): VerifyResult => {
    if (ignoreRemote) return { ok: true };
    if (chainDer.length === 0 && (requestOnly || anonymous)) return { ok: true };
    const verdict = deps.validator.validate({
      role,
      chainDer,
      remoteid: p.remoteid,
      ignoreCaches: (p.flags & StartTlsFlag.IGNORE_CACHES) !== 0,
    });
    if (!verdict.ok) return { ok: false, errno: Errno[verdict.code], message: verdict.message, alert: verdict.alert };
    remoteid = verdict.remoteid;
    return { ok: true };
  };

  const requester = { pid: req.client.peer.pid, executable: req.client.executable };
  // A disclosure question lives as long as the handshake: withdrawn when the application leaves or the handshake ends.
  let asking: AbortController | undefined;
  const stopAsking = () => asking?.abort(req.signal.reason ?? new ProtocolError('ECANCELED', 'the handshake ended'));
  req.signal.addEventListener('abort', stopAsking, { once: true });

  // A server told which identity to show, and allowed to by a rule or the
  // default: its credentials go to the engine with the session, which spares
  // the handshake a wait for this thread. (A denial is left to the handshake,
  // which tells the client with an alert.)
  let preset: NativeCredentials | undefined;
  if (role === 'server' && p.localid) {
    const q = question(p.localid, undefined);
    const answer = deps.approval.settled(q);
    if (answer?.decision === 'allow') preset = disclose(q, answer) ?? undefined;
  }

  // The tokens this handshake asked a PIN for: once it is established, their PINs were right.
  const pinTokens = tokensAsked();
  const established = await startSession(
    {
      fd: req.fd!.fd,
      role,
      transport,
      priority: config.priority,
      serverName: role === 'client' && p.flags & StartTlsFlag.SEND_SNI && p.remoteid ? domainOf(p.remoteid) : undefined,
      certRequest: role === 'server' ? (ignoreRemote ? 'ignore' : requestOnly ? 'request' : 'require') : undefined,
      anonymous,
      handshakeTimeoutMs: config.handshake_timeout * 1000,
      resumption: resumptionScope(role, p, transport, anonymous),
      acceptAnyPeer: ignoreRemote,
      signal: req.signal,
      presetCredentials: preset,
      credentials: (ctx) => chooseLocal(ctx.serverName),
      verifyPeer: (ctx) => verifyPeer(ctx.chainDer),
      pin: (ctx) =>
        deps.pin.request(
          {
            token: pinTokens.add(tokenRef(ctx.tokenUrl, ctx.tokenLabel)),
            keyUri: ctx.keyUri,
            attempt: ctx.attempt,
            wrong: ctx.wrong,
            finalTry: ctx.finalTry,
            countLow: ctx.countLow,
            requester,
            peer: p.remoteid ? (peerAddress ? `${p.remoteid} (${peerAddress})` : p.remoteid) : peerAddress,
          },
          req.signal,
        ),
    },
    recordEnd(deps.connections, record),
  )
    .catch((e: unknown) => {
      throw explainEngineFailure(e, role, transport, config.handshake_timeout);
    })
    .finally(() => {
      req.signal.removeEventListener('abort', stopAsking);
      stopAsking();
    });
  const plaintext = adoptFd(established.plaintextFd);
  Object.assign(record, {
    localid,
    remoteid,
    sni: established.serverName,
    version: established.version,
    cipher: established.cipher,
    peerChain: established.peerChainDer.map((der) => pem('CERTIFICATE', der)),
  });
  deps.connections.established(record);
  for (const t of pinTokens.all) deps.pin.accepted(t);
  req.log.info('STARTTLS established', {
    connection: record.id,
    client: req.client.id,
    role,
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
    starttls: { ...p, localid, remoteid },
  };
  return { packet: response, fd: plaintext };
}

function tokensAsked(): { add(t: TokenRef): TokenRef; readonly all: TokenRef[] } {
  const all: TokenRef[] = [];
  return {
    add: (t) => (all.some((a) => a.key === t.key) || all.push(t), t),
    all,
  };
}

/**
 * The engine's end of a relay, into the connection log. Made out here so that
 * what the engine keeps for the connection's life holds only these two, not
 * the request and its callbacks.
 */
function recordEnd(connections: ConnectionLog, record: ConnectionRecord): (end: SessionEnd) => void {
  return (end) => {
    record.bytesIn = end.bytesIn;
    record.bytesOut = end.bytesOut;
    const reason =
      end.reason === 'closed' ? 'closed by application' : end.reason === 'peer-closed' ? 'closed by peer' : end.reason === 'aborted' ? 'aborted' : 'error';
    connections.ended(record, reason, end.code ? { errno: end.code, message: end.message ?? '' } : undefined);
  };
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
    throw new ProtocolError('EINVAL', 'the answer to a STARTTLS_LOCALID proposal must be a STARTTLS_LOCALID');
  }
  const chosen = answer.starttls.localid;
  if (chosen) checkIdentityString(chosen);
  return chosen;
}

/**
 * A server that requires a client certificate lets GnuTLS refuse a client
 * without one, in words that read as if we had none ("No certificate was
 * found."): say what happened instead. A handshake that ran out of time says
 * which setting bounds it and what to check (in the wire's 127 bytes).
 */
function explainEngineFailure(e: unknown, role: Role, transport: 'tls' | 'dtls', timeoutS: number): unknown {
  const noClientCert =
    e instanceof TlsError && e.code === 'EACCES' && (e.gnutls === 'GNUTLS_E_CERTIFICATE_REQUIRED' || e.gnutls === 'GNUTLS_E_NO_CERTIFICATE_FOUND');
  if (role === 'server' && noClientCert) {
    return new ProtocolError('EACCES', 'the client sent no certificate, and this server requires one');
  }
  if (e instanceof TlsError && e.kind === 'timeout') {
    const t = transport === 'dtls' ? 'DTLS' : 'TLS';
    const peer = role === 'client' ? 'server' : 'client';
    return new ProtocolError('ETIMEDOUT', `${t} handshake timed out: the ${peer} did not complete it within tls.handshake_timeout (${timeoutS} s); check that it speaks ${t}`);
  }
  return e;
}
