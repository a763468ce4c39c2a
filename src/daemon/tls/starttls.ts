/**
 * STARTTLS, as the protocol text (docs/protocol.md) describes it, shared by
 * V1 (STARTTLS_CLIENT / STARTTLS_SERVER) and V2 (STARTTLS): check the
 * socket and the request, open its record, run the attempt
 * (starttls-attempt.ts), and log how it ended. This file also holds the V1
 * adapter: the role from the tag, STARTTLS_LOCALID proposals when no local
 * identity was named, and the plaintext fd sent with the answer.
 */
import type { Config } from '../../config';
import { adoptFd } from '../../addon/ipc';
import type { PinBroker } from '../pin/broker';
import { wire } from '../../protocol/wire-text';
import type { Packet, StartTlsPayload } from '../../protocol/codec';
import { Cmd, StartTlsFlag } from '../../protocol/constants';
import { checkIdentityString } from '../../store/identities';
import type { Handler, Request, Response } from '../server/request';
import type { ApprovalService } from '../disclosure/approval';
import type { ConnectionLog } from '../../store/connection-log';
import type { ConnectionRecord, Role } from '../../model/connection';
import { checkStartTlsFd, type Transport } from './fd-check';
import type { LocalCredentials } from './local-credentials';
import type { PeerChecks } from './peer-check';
import type { ExternalChecks } from '../radius/external-checks';
import { codeOf, Failure, messageOf } from '../../model/failure';
import { type AttemptRequest, domainOf, StartTlsAttempt, type StartTlsProtocol } from './starttls-attempt';

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

/**
 * Run one STARTTLS for `proto`. Every STARTTLS gets a record and a log line,
 * also one refused before any TLS starts; `fail` turns what was thrown into
 * what the protocol answers (`started`: the handshake had begun).
 */
export async function runStartTls(
  deps: StartTlsDeps,
  req: AttemptRequest,
  proto: StartTlsProtocol,
  fail: (e: unknown, started: boolean) => unknown = (e) => e,
): Promise<Response<unknown>> {
  const { payload: p, role } = proto;
  const open = (transport: Transport, peer?: string) =>
    deps.connections.open({
      role,
      transport,
      requester: { ...req.client.peer, executable: req.client.executable, command: req.client.command },
      localid: p.localid,
      remoteid: p.remoteid,
      peer,
    });
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
    return await new StartTlsAttempt(deps, req, proto, transport, peerAddress, record).run();
  } catch (failure) {
    // Stopped from outside (the daemon shuts down, the application left): that is the reason to give,
    // not how the engine or a pending proposal noticed it (ECANCELED, "the session was aborted").
    const e = req.signal.aborted && req.signal.reason instanceof Failure ? req.signal.reason : failure;
    const code = codeOf(e);
    const started = record !== undefined;
    record ??= open(p.flags & StartTlsFlag.DTLS ? 'dtls' : 'tls');
    deps.connections.ended(record, started ? 'handshake failed' : 'refused', { errno: code, message: messageOf(e) });
    req.log.info('STARTTLS failed', { connection: record.id, client: req.client.id, role, errno: code, reason: messageOf(e) });
    throw fail(e, started);
  }
}

/** V1: the role is the tag, SEND_SNI asks for SNI, the plaintext fd comes with the answer. */
export function startTlsHandler(deps: StartTlsDeps): Handler {
  return async (req) => {
    if (!('starttls' in req.packet)) throw new Error('STARTTLS handler got another command');
    const p = req.packet.starttls;
    const role: Role = req.packet.cmd === Cmd.STARTTLS_CLIENT ? 'client' : 'server';
    const proto: StartTlsProtocol = {
      payload: p,
      role,
      serverName: p.flags & StartTlsFlag.SEND_SNI && p.remoteid ? domainOf(p.remoteid) : undefined,
      confirmNamed: false,
      sniMustFit: false,
      propose: (candidate) => proposeLocalId(req, p, candidate),
      answer: ({ established, localid, remoteid }) => {
        const response: Packet = {
          reqid: req.packet.reqid,
          cbid: 0,
          cmd: req.packet.cmd as typeof Cmd.STARTTLS_CLIENT,
          starttls: { ...p, localid, remoteid },
        };
        return { packet: response, fd: adoptFd(established.plaintextFd) };
      },
    };
    return (await runStartTls(deps, req, proto)) as Response;
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
    throw new Failure('EINVAL', 'the answer to a STARTTLS_LOCALID proposal must be a STARTTLS_LOCALID');
  }
  const chosen = answer.starttls.localid;
  if (chosen) checkIdentityString(chosen);
  return chosen;
}
