/**
 * The control socket's contract (`tlspool-control.sock`, docs/architecture.md):
 * JSON-RPC 2.0, one JSON object per line, to the daemon's own uid and root.
 * Requests may be pipelined; while more than 1 MiB of a connection's
 * answers are unsent, the daemon reads no further requests from it.
 * Pure: no Node module, no I/O — so the daemon, the desktop agent and the
 * renderer (which imports nothing else of the daemon) share one definition.
 */
import type { ConnectionDetails, ConnectionPage } from '../model/connection';
import type { ApprovalDecision, ApprovalRequest, DisclosureRule } from '../model/disclosure';
import type { PoolEvent } from '../model/events';
import type { IdentityInfo, TrustAnchorInfo } from '../model/identity';
import type { Settings } from '../model/settings';
import type { TokenInfo } from '../model/tokens';

export interface DaemonStatus {
  readonly version: string;
  readonly pid: number;
  readonly uid: number;
  readonly socket: string;
  readonly controlSocket: string;
  readonly stateDir: string;
  readonly configFile: string | null;
  readonly startedAt: string;
  readonly connections: { readonly live: number };
  readonly pinEntry: ReadonlyArray<{ readonly pid: number; readonly executable?: string; readonly shared: boolean }>;
  /** The registered approval agent, if any. */
  readonly approvalAgent: { readonly pid: number; readonly executable?: string } | null;
  /** Prompts waiting for a person. */
  readonly pendingApprovals: number;
  /** Tokens the pool holds unlocked. */
  readonly unlockedTokens: number;
  /** Exceptions and rejections that reached the process guard (bugs, logged with their stack) since start. */
  readonly unexpectedErrors: number;
}

type NoParams = Record<string, never>;

/** Every method: its params and its result. A misspelt name or a wrong argument is a compile error. */
export interface ControlMethods {
  status: { params: NoParams; result: DaemonStatus };
  /**
   * After this, the daemon sends `event` notifications with a PoolEvent until
   * the connection closes. A subscriber that lets more than 1 MiB of them
   * wait unread is closed (the daemon logs it once): read them, or reconnect
   * and reload.
   */
  'events.subscribe': { params: NoParams; result: { subscribed: true } };
  /**
   * Most recent first; live ones included. `limit` 1..MAX_PAGE_ROWS (default
   * MAX_PAGE_ROWS); with `beforeId`, only older connections. For the next
   * page, pass the last one's id as beforeId while `more` is true. A log row
   * that cannot be read is listed with `damaged` set, not left out.
   */
  'connections.list': { params: { limit?: number; beforeId?: number }; result: ConnectionPage };
  'connections.get': { params: { id: number }; result: ConnectionDetails };
  'identities.list': { params: NoParams; result: IdentityInfo[] };
  'identities.setDefault': { params: { localid: string }; result: IdentityInfo[] };
  'identities.remove': { params: { localid: string }; result: IdentityInfo[] };
  /** The pool's own trust anchors (besides the system store when tls.system_trust is on). */
  'trust.list': { params: NoParams; result: TrustAnchorInfo[] };
  'tokens.list': { params: NoParams; result: TokenInfo[] };
  /** Forget PINs and log tokens out: all of them, or the one labelled. */
  'tokens.lock': { params: { label?: string }; result: { locked: number } };
  'rules.list': { params: NoParams; result: DisclosureRule[] };
  'rules.revoke': { params: { id: number }; result: DisclosureRule[] };
  /**
   * This connection becomes the approval agent: the daemon sends it
   * `approval.ask` (an ApprovalRequest) and `approval.withdraw` ({ id, reason })
   * notifications. One agent at a time; another gets EBUSY.
   */
  'approval.register': { params: NoParams; result: { registered: true } };
  'approval.decide': { params: ApprovalDecision; result: { decided: true } };
  'settings.get': { params: NoParams; result: Settings };
  'settings.set': { params: Partial<Settings>; result: Settings };
}

export type ControlMethod = keyof ControlMethods;

/** Notifications the daemon sends (JSON-RPC requests without an id). */
export interface ControlNotifications {
  event: PoolEvent;
  'approval.ask': ApprovalRequest;
  'approval.withdraw': { id: string; reason: string };
}

/**
 * JSON-RPC error codes: the standard ones, and one for a refusal. Every
 * error answer also carries the errno name in `data.code` (EBUSY, ENOENT,
 * EINVAL, EPERM, …); the JSON-RPC code follows from it (rpcCodeFor).
 */
export const RpcErrorCode = {
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL_ERROR: -32603,
  REFUSED: -32000,
} as const;

export interface RpcError {
  readonly code: number;
  readonly message: string;
  readonly data?: { readonly code?: string };
}

/** The JSON-RPC code an error answer with this errno name gets. */
export function rpcCodeFor(errno: string): number {
  switch (errno) {
    case 'EBADMSG':
      return RpcErrorCode.PARSE_ERROR;
    case 'EPROTO':
      return RpcErrorCode.INVALID_REQUEST;
    case 'ENOSYS':
      return RpcErrorCode.METHOD_NOT_FOUND;
    case 'EINVAL':
      return RpcErrorCode.INVALID_PARAMS;
    default:
      return RpcErrorCode.REFUSED;
  }
}

/** The errno name of an error answer: its data.code, or what its JSON-RPC code stands for. */
export function errnoOfRpcError(error: RpcError): string {
  if (error.data?.code) return error.data.code;
  switch (error.code) {
    case RpcErrorCode.PARSE_ERROR:
      return 'EBADMSG';
    case RpcErrorCode.INVALID_REQUEST:
      return 'EPROTO';
    case RpcErrorCode.METHOD_NOT_FOUND:
      return 'ENOSYS';
    case RpcErrorCode.INVALID_PARAMS:
      return 'EINVAL';
    default:
      return 'EIO';
  }
}

/** Control socket file name, beside the pool socket. */
export const CONTROL_SOCKET_NAME = 'tlspool-control.sock';
