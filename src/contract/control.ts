/**
 * The control socket's contract (`tlspool-control.sock`, architecture.md):
 * JSON-RPC 2.0, one JSON object per line, to the daemon's own uid and root.
 * Requests may be pipelined; while more than 1 MiB of a connection's
 * answers are unsent, the daemon reads no further requests from it.
 * Pure: no Node module, no I/O — so the daemon, the desktop agent and the
 * renderer (which imports nothing else of the daemon) share one definition.
 */
import type { ConnectionPage, ConnectionRecord } from '../model/connection';

export type { ConnectionPage, ConnectionRecord, ConnectionState, Role } from '../model/connection';

/**
 * The most connections one `connections.list` answer holds; a larger limit
 * is refused (INVALID_PARAMS), not cut down. A page may hold fewer (it also
 * stops before 4 MiB of records): go on with beforeId while `more` is true.
 */
export const MAX_PAGE_ROWS = 1000;

/** What the UI shows of a certificate in a chain. */
export interface CertInfo {
  readonly subject: string;
  readonly issuer: string;
  readonly serial: string;
  readonly notBefore: string;
  readonly notAfter: string;
  /** Subject alternative names: DNS names, emails, URIs. */
  readonly altNames: string[];
  /** SHA-256 of the DER, hex. */
  readonly sha256: string;
  readonly pem: string;
  /** Set when the stored PEM does not parse as a certificate: why (the other fields are then empty). */
  readonly damaged?: string;
}

export interface ConnectionDetails {
  readonly connection: ConnectionRecord;
  /** The peer's chain as received, leaf first. */
  readonly chain: CertInfo[];
}

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

export interface IdentityInfo {
  readonly localid: string;
  readonly isDefault: boolean;
  /** A key file's path or a `pkcs11:` URI. */
  readonly keyRef: string;
  readonly subject: string;
  readonly issuer: string;
  readonly notAfter: string;
  readonly addedAt: string;
}

export interface TokenInfo {
  readonly label: string;
  readonly manufacturer: string;
  readonly model: string;
  readonly serial: string;
  /** The PKCS #11 module file it was found through. */
  readonly module: string;
  /** The pool holds its PIN (it is logged in). */
  readonly unlocked: boolean;
}

/**
 * Who a disclosure rule is about: `user@host`, `host` (exactly that host),
 * `.parent.domain` (any name under it), or `*` (anyone).
 */
export type RemoteSelector = string;

/** `once` is never stored; `restart` lives until the daemon stops; `forever` is in SQLite. */
export type RuleLifetime = 'once' | 'restart' | 'forever';
export type Disclosure = 'allow' | 'deny';

export interface DisclosureRule {
  readonly id: number;
  readonly localid: string;
  readonly remote: RemoteSelector;
  readonly decision: Disclosure;
  readonly lifetime: Exclude<RuleLifetime, 'once'>;
  readonly createdAt: string;
}

/** "Show identity X to remote Y?" — sent to the approval agent. */
export interface ApprovalRequest {
  readonly id: string;
  /** The connection (record id) the handshake belongs to. */
  readonly connectionId: number;
  readonly role: 'client' | 'server';
  /** The remote peer as best known: its identity, else its address. */
  readonly remote: string;
  /** Selectors from most specific to `*`: what a remembered choice may cover. */
  readonly selectors: RemoteSelector[];
  /** The identity the pool would show. */
  readonly localid: string;
  /** Every identity that could be shown instead, default first; includes `localid`. */
  readonly candidates: string[];
  readonly requester: { readonly pid: number; readonly executable?: string };
  readonly askedAt: string;
  /** Unanswered by then, it is a deny. */
  readonly expiresAt: string;
}

export interface ApprovalDecision {
  readonly id: string;
  readonly decision: Disclosure;
  /** With allow: the identity to show (one of the candidates); default the asked one. */
  readonly localid?: string;
  /** What the choice covers when remembered; default the most specific selector. */
  readonly remote?: RemoteSelector;
  readonly lifetime: RuleLifetime;
}

/** What the Settings page changes in the running daemon (until restart or SIGHUP). */
export interface Settings {
  /** pin.entry_timeout, seconds. */
  readonly pinEntryTimeout: number;
  /** pin.cache_idle_ttl, seconds. */
  readonly pinCacheIdleTtl: number;
  /** pin.cache_max_ttl, seconds. */
  readonly pinCacheMaxTtl: number;
  /** tls.validation_cache_ttl, seconds. */
  readonly validationCacheTtl: number;
  /** disclosure.approval_timeout, seconds. */
  readonly approvalTimeout: number;
  /** disclosure.default: what happens when no rule matches and no agent is registered. */
  readonly defaultDisclosure: Disclosure;
}

export interface TokenRefView {
  readonly label: string;
  readonly manufacturer: string;
  readonly model: string;
  readonly serial: string;
}

/** The live event stream (`events.subscribe`). Never carries a PIN. */
export type PoolEvent =
  | { readonly type: 'connection-opened' | 'connection-established' | 'connection-closed'; readonly connection: ConnectionRecord }
  | {
      readonly type: 'pin-requested';
      readonly token: TokenRefView;
      readonly attempt: number;
      readonly requester?: { readonly pid: number; readonly executable?: string };
      readonly peer?: string;
    }
  | {
      readonly type: 'pin-answered';
      readonly token: TokenRefView;
      readonly attempt: number;
      readonly outcome: 'pin' | 'cancel' | 'timeout' | 'gone';
    }
  | { readonly type: 'approval-asked'; readonly approval: ApprovalRequest }
  | {
      readonly type: 'approval-decided';
      readonly id: string;
      readonly connectionId: number;
      readonly decision: Disclosure;
      /** agent: a person chose; timeout: nobody answered; withdrawn: the handshake or its requester went away. */
      readonly by: 'agent' | 'timeout' | 'withdrawn';
      readonly localid?: string;
    }
  | { readonly type: 'pinentry-registered'; readonly pid: number; readonly executable?: string; readonly shared: boolean }
  | { readonly type: 'pinentry-left'; readonly pid: number }
  | { readonly type: 'approval-agent-registered'; readonly pid: number; readonly executable?: string }
  | { readonly type: 'approval-agent-left'; readonly pid: number }
  | { readonly type: 'tokens-locked'; readonly count: number }
  | { readonly type: 'identities-changed' }
  | { readonly type: 'rules-changed' }
  | { readonly type: 'settings-changed'; readonly settings: Settings }
  | { readonly type: 'config-reloaded'; readonly configFile: string | null };

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
 * JSON-RPC error codes: the standard ones, and one for a refusal that
 * carries an errno name in `data.code` (EBUSY, ENOENT, EINVAL, EPERM, …).
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

/** Control socket file name, beside the pool socket. */
export const CONTROL_SOCKET_NAME = 'tlspool-control.sock';
