/** Who may see which local identity: disclosure rules and the approvals that make them. */

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
  readonly requester: { readonly pid: number; readonly executable?: string; readonly command?: readonly string[] };
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
