/**
 * V2 STARTTLS (tag 0x24): the role from the flags, SNI unless WITHOUT_SNI,
 * STARTTLS_LOCALID only with LOCALID_CHECK (its answer may bring the
 * plaintext fd), PLAINTEXT_CONNECT otherwise, and a final answer with the
 * identities used and no descriptor. The handshake itself is the V1 one
 * (runStartTls); the session is registered under its ctlkey (ctlkeys.ts).
 */
import { fdInfo, type OwnedFd } from '../../addon/ipc';
import type { StartTlsPayload } from '../../protocol/codec';
import { StartTlsFlag } from '../../protocol/constants';
import type { V2Packet, V2StartTlsPayload } from '../../protocol/v2-codec';
import { V2Cmd, V2StartTlsFlag as F } from '../../protocol/v2-constants';
import { TlspFailure } from '../../protocol/v2-errors';
import { checkIdentityString } from '../../store/identities';
import { errnoName } from '../../protocol/errno';
import { errnoOf, Failure, messageOf } from '../../model/failure';
import type { Role } from '../../model/connection';
import { wire } from '../../protocol/wire-text';
import type { Handler, Request, Response } from '../server/request';
import { runStartTls, type StartTlsDeps } from '../tls/starttls';
import { domainOf, type StartTlsProtocol } from '../tls/starttls-attempt';
import { type Controlled, type CtlKeys, keyOf } from './ctlkeys';
import { renegotiate } from './renegotiate';

/** The effective role (6.2): client, server, or none (peer-to-peer included). */
export function roleOf(flags: number): Role {
  const client = (flags & F.LOCALROLE_CLIENT) !== 0 && (flags & F.REMOTEROLE_SERVER) !== 0;
  const server = (flags & F.LOCALROLE_SERVER) !== 0 && (flags & F.REMOTEROLE_CLIENT) !== 0;
  if (client && server) throw new TlspFailure('E_TLSPOOL_COMMAND_NOTIMPL', 'peer-to-peer STARTTLS (all four role flags) is not implemented; choose one role');
  if (client) return 'client';
  if (server) return 'server';
  throw new TlspFailure('E_TLSPOOL_COMMAND_NOTIMPL', 'the role flags name no role: set LOCALROLE_CLIENT+REMOTEROLE_SERVER or the reverse');
}

/** The request in V1 terms: what fd checks, validation and resumption read. */
function v1Terms(p: V2StartTlsPayload): StartTlsPayload {
  const same = StartTlsFlag.IGNORE_CACHES | StartTlsFlag.REQUEST_REMOTEID | StartTlsFlag.IGNORE_REMOTEID;
  return {
    flags: (p.flags & same) | (p.flags & F.DTLS ? StartTlsFlag.DTLS : 0),
    local: p.local,
    ipproto: p.ipproto,
    streamid: p.streamid,
    localid: p.localid,
    remoteid: p.remoteid,
  };
}

/** SNI (6.4): the domain of remoteid unless WITHOUT_SNI; none for an IP literal. */
function sniOf(p: V2StartTlsPayload): string | undefined {
  if (p.flags & F.WITHOUT_SNI || !p.remoteid) return undefined;
  const d = domainOf(p.remoteid);
  return d && !/^[0-9.]+$|:/.test(d) ? d : undefined;
}

/** The handshake bound in ms: 0 = the daemon's default, 0xFFFFFFFF = none. */
function timeoutOf(p: V2StartTlsPayload): number | undefined {
  if (p.timeout === 0) return undefined;
  return p.timeout === 0xffffffff ? 0 : p.timeout;
}

/** What the client is told when a STARTTLS fails (section 13): table codes, else the errno. */
function v2Failure(e: unknown, started: boolean, req: Request<V2Packet>): unknown {
  if (e instanceof TlspFailure) return e;
  if (!started && !req.fd && !req.fdLost) {
    return new TlspFailure('E_TLSPOOL_CIPHER_SOCKET_NEEDED', 'STARTTLS needs the socket to protect, sent as SCM_RIGHTS with the request', { cause: e });
  }
  if (!started) return e;
  const name = errnoName(errnoOf(e, 'EIO'));
  if (name === 'ENOMEM') return new TlspFailure('E_TLSPOOL_OUT_OF_MEMORY', messageOf(e), { cause: e });
  return new TlspFailure('E_TLSPOOL_STIRRED_NOT_SHAKEN', messageOf(e), { cause: e });
}

export function v2StartTlsHandler(deps: StartTlsDeps, keys: CtlKeys): Handler<V2Packet> {
  return async (req) => {
    if (!('starttls' in req.packet)) throw new Error('V2 STARTTLS handler got another command');
    const p = req.packet.starttls;
    if (p.flags & F.RENEGOTIATE) return renegotiate(req, keys, deps.config().handshake_timeout * 1000);
    let role: Role;
    try {
      role = roleOf(p.flags);
      if (p.flags & F.DETACH && !keys.roomToDetach()) {
        throw new Failure('EBUSY', 'too many sessions are detached already (limits.detached_sessions); do not set DETACH now');
      }
    } catch (e) {
      req.log.info('STARTTLS refused', { client: req.client.id, protocol: 'v2', flags: p.flags, reason: messageOf(e) });
      throw e;
    }
    const key = keyOf(p.ctlkey);
    const entry: Controlled = { ownerUid: req.client.peer.uid, fork: (p.flags & F.FORK) !== 0, control: undefined, end: () => undefined };
    keys.register(key, entry);
    const v2 = new V2StartTls(req, p, role, keys, key, entry, deps.config().handshake_timeout * 1000);
    try {
      return (await runStartTls(deps, req, v2, (e, started) => v2.failure(e, started))) as Response<V2Packet>;
    } catch (e) {
      v2.drop();
      throw e;
    }
  };
}

/** The V2 side of one STARTTLS: its callbacks, its answer and its ctlkey. */
class V2StartTls implements StartTlsProtocol {
  readonly payload: StartTlsPayload;
  readonly serverName: string | undefined;
  readonly handshakeTimeoutMs: number | undefined;
  readonly confirmNamed: boolean;
  readonly sniMustFit = true;
  /** The plaintext fd a STARTTLS_LOCALID answer brought. */
  private plainFd: OwnedFd | undefined;
  /** What a callback answer was wrong about: the reason to give, whatever the engine made of it. */
  private callbackFailure: TlspFailure | undefined;
  private readonly waitMs: number;

  constructor(
    private readonly req: Request<V2Packet>,
    private readonly p: V2StartTlsPayload,
    readonly role: Role,
    private readonly keys: CtlKeys,
    private readonly key: string,
    private readonly entry: Controlled,
    defaultTimeoutMs: number,
  ) {
    this.payload = v1Terms(p);
    this.serverName = role === 'client' ? sniOf(p) : undefined;
    this.handshakeTimeoutMs = timeoutOf(p);
    this.confirmNamed = (p.flags & F.LOCALID_CHECK) !== 0;
    // A callback waits at most as long as the handshake may take (and a minute when that is unbounded).
    this.waitMs = this.handshakeTimeoutMs || (this.handshakeTimeoutMs === 0 ? 60_000 : defaultTimeoutMs);
  }

  failure(e: unknown, started: boolean): unknown {
    return this.callbackFailure ?? v2Failure(e, started, this.req);
  }

  /** The request failed: its key is free, a plaintext fd it got is closed. */
  drop(): void {
    this.plainFd?.close();
    this.keys.forget(this.key, this.entry);
  }

  private wrong(f: TlspFailure): TlspFailure {
    this.callbackFailure ??= f;
    return f;
  }

  /** A callback, bounded: the application that does not answer in time is taken to refuse. */
  private async ask(cmd: typeof V2Cmd.STARTTLS_LOCALID | typeof V2Cmd.PLAINTEXT_CONNECT, localid: string, remoteid: string) {
    const answer = this.req.exchange({ reqid: this.req.packet.reqid, cbid: 0, cmd, starttls: { ...this.p, localid, remoteid } });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const what = cmd === V2Cmd.PLAINTEXT_CONNECT ? 'PLAINTEXT_CONNECT' : 'STARTTLS_LOCALID';
        reject(this.wrong(new TlspFailure('E_TLSPOOL_CLIENT_REFUSES_CALLBACK', `no answer to ${what} in ${this.waitMs / 1000} s; answer every callback`)));
      }, this.waitMs);
    });
    answer.then((a) => a.fd && timer === undefined && a.fd.close(), () => undefined);
    try {
      return await Promise.race([answer, late]);
    } finally {
      clearTimeout(timer);
      timer = undefined;
    }
  }

  async propose(candidate: string, remoteid: string): Promise<string> {
    if (!this.confirmNamed) {
      // No check asked for: the candidate is taken; a client with no remoteid shows no certificate (6.5).
      return this.role === 'client' && !this.p.remoteid ? '' : candidate;
    }
    const { packet, fd } = await this.ask(V2Cmd.STARTTLS_LOCALID, candidate, remoteid);
    if (packet.cmd === V2Cmd.ERROR || !('starttls' in packet) || packet.cmd !== V2Cmd.STARTTLS_LOCALID) {
      fd?.close();
      if (packet.cmd === V2Cmd.ERROR) throw new Failure('EACCES', wire`the application refused ${candidate} as local identity`);
      throw this.wrong(new TlspFailure('E_TLSPOOL_COMMAND_BAD_CALLBACK_RESPONSE', 'the answer to STARTTLS_LOCALID must be STARTTLS_LOCALID or ERROR'));
    }
    const chosen = packet.starttls.localid;
    try {
      if (chosen) checkIdentityString(chosen);
    } catch {
      fd?.close();
      throw new Failure('EINVAL', wire`localid "${chosen}" in the STARTTLS_LOCALID answer is not a domain or user@domain`);
    }
    if (fd && chosen) {
      this.plainFd?.close();
      this.plainFd = fd;
    } else fd?.close();
    return chosen;
  }

  readonly plaintext = async ({ localid, remoteid }: { localid: string; remoteid: string }): Promise<number> => {
    if (this.plainFd) return this.plainFd.release();
    const { packet, fd } = await this.ask(V2Cmd.PLAINTEXT_CONNECT, localid, remoteid);
    if (packet.cmd !== V2Cmd.PLAINTEXT_CONNECT) {
      fd?.close();
      throw this.wrong(new TlspFailure('E_TLSPOOL_COMMAND_BAD_CALLBACK_RESPONSE', 'PLAINTEXT_CONNECT was not answered by PLAINTEXT_CONNECT with the plaintext fd'));
    }
    if (!fd) throw this.wrong(new TlspFailure('E_TLSPOOL_PLAIN_SOCKET_NEEDED', 'the PLAINTEXT_CONNECT answer must carry the plaintext socket as SCM_RIGHTS'));
    if (!fdInfo(fd.fd).isSocket) {
      fd.close();
      throw this.wrong(new TlspFailure('E_TLSPOOL_PLAIN_SOCKET_NEEDED', 'the descriptor sent with PLAINTEXT_CONNECT is not a socket; send one end of a socketpair'));
    }
    return fd.release();
  };

  answer({ established, localid, remoteid }: Parameters<StartTlsProtocol['answer']>[0]): { packet: V2Packet } {
    if (this.req.signal.aborted) throw new TlspFailure('E_TLSPOOL_CLIENT_DISCONNECT', 'the application left before the session was established');
    this.entry.end = () => established.session.abort();
    const detached = (this.p.flags & F.DETACH) !== 0;
    const facts = { control: established.session, role: this.role, version: established.version, peerChainDer: established.peerChainDer, localid, remoteid };
    this.keys.established(this.entry, facts, detached ? undefined : this.req.client.id);
    this.req.log.info('V2 session registered', { client: this.req.client.id, detached, fork: this.entry.fork, service: this.p.service || undefined });
    return { packet: { reqid: this.req.packet.reqid, cbid: 0, cmd: V2Cmd.STARTTLS, starttls: { ...this.p, localid, remoteid } } };
  }

  ended(): void {
    this.keys.forget(this.key, this.entry);
  }
}
