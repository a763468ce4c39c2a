/**
 * Disclosure rules: whether the pool may show a local identity to a remote
 * peer. A rule names a local identity, a remote selector (`user@host`,
 * `host`, `.parent.domain` for any name under it, or `*`), a decision and a
 * lifetime. 'forever' rules are rows of `disclosure_rules`, so the CLI can
 * list and revoke them without the daemon; 'restart' rules live in memory.
 * Both share one id sequence so that an id names one rule.
 */
import type { Disclosure, DisclosureRule, RemoteSelector, RuleLifetime } from '../../model/disclosure';
import type { Statement } from 'better-sqlite3';
import type { Db } from '../../store/db';
import { Failure } from '../../model/failure';

interface RuleRow {
  id: number;
  localid: string;
  remote: string;
  decision: Disclosure;
  created_at: string;
}

const IP_LIKE = /^[0-9.]+$|:/;

/**
 * The selectors that cover `remote`, most specific first: the identity
 * itself, its host, each parent domain, then `*`. An address ("192.0.2.1:443")
 * is covered by its host part and `*` only.
 */
export function selectorsFor(remote: string): RemoteSelector[] {
  const out: string[] = [];
  const add = (s: string) => {
    if (!s || out.includes(s)) return;
    try {
      checkSelector(s);
    } catch {
      return; // Not a name or an address (an unknown peer): only `*` covers it.
    }
    out.push(s);
  };
  let r = remote.trim().toLowerCase();
  // "[2001:db8::1]:443" and "192.0.2.1:443": the host, without the port.
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(r);
  if (bracketed) r = bracketed[1]!;
  else if (/^[0-9.]+:\d+$/.test(r)) r = r.slice(0, r.lastIndexOf(':'));
  const at = r.lastIndexOf('@');
  if (at >= 0) add(r);
  const host = r.slice(at + 1);
  add(host);
  if (!IP_LIKE.test(host)) {
    const labels = host.split('.');
    for (let i = 1; i < labels.length; i++) add(`.${labels.slice(i).join('.')}`);
  }
  add('*');
  return out;
}

/** A selector a person may write: `*`, `.domain`, `host`, `user@host`, or an address. */
export function checkSelector(s: string): void {
  if (s === '*') return;
  const ok = /^\.?[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/i.test(s) || /^[^\s@]{1,64}@[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/i.test(s) || /^[0-9a-f:.]+$/i.test(s);
  if (!ok || s.length > 253) {
    throw new Failure('EINVAL', `"${s}" is not a remote selector: use user@host, host, .parent.domain or *`);
  }
}

/** What the rules say for one local identity and one remote, if anything. */
export interface RuleVerdict {
  readonly decision: Disclosure;
  /** The identity to show (an allow rule may name another candidate). */
  readonly localid: string;
  readonly rule: DisclosureRule;
}

export class DisclosureRules {
  private readonly memory: DisclosureRule[] = [];
  /** The remembered rules as last read: evaluate() runs on every STARTTLS that shows an identity. */
  private stored: DisclosureRule[] | undefined;

  constructor(private readonly db: Db) {}

  /** Every rule, remembered ones and those until restart, by id (read from the database now). */
  list(): DisclosureRule[] {
    this.stored = listStoredRules(this.db);
    return this.all();
  }

  /** The database was changed by another process (the CLI): read the remembered rules again when next needed. */
  forget(): void {
    this.stored = undefined;
  }

  private all(): DisclosureRule[] {
    return [...(this.stored ??= listStoredRules(this.db)), ...this.memory].sort((a, b) => a.id - b.id);
  }

  /** Remember a choice; a rule for the same identity and selector is replaced. */
  add(localid: string, remote: RemoteSelector, decision: Disclosure, lifetime: Exclude<RuleLifetime, 'once'>): DisclosureRule {
    checkSelector(remote);
    const selector = remote.toLowerCase();
    this.drop(localid, selector);
    const id = this.nextId();
    const rule: DisclosureRule = { id, localid, remote: selector, decision, lifetime, createdAt: new Date().toISOString() };
    if (lifetime === 'forever') {
      this.stored = undefined;
      this.db
        .prepare('INSERT INTO disclosure_rules (id, localid, remote, decision, created_at) VALUES (?, ?, ?, ?, ?)')
        .run(id, localid, selector, decision, rule.createdAt);
    } else {
      this.memory.push(rule);
    }
    return rule;
  }

  revoke(id: number): DisclosureRule {
    const i = this.memory.findIndex((r) => r.id === id);
    if (i >= 0) return this.memory.splice(i, 1)[0]!;
    this.stored = undefined;
    return revokeStoredRule(this.db, id);
  }

  /**
   * The most specific rule about showing `localid` to `remote` (one rule per
   * identity and selector: a new choice replaces the old, so there is no tie
   * to break; deny would win one). Without one, an allow rule for another of the `candidates` (a
   * person chose that identity for this remote before) is used.
   */
  evaluate(localid: string, remote: string, candidates: readonly string[]): RuleVerdict | undefined {
    const selectors = selectorsFor(remote);
    const rank = (r: DisclosureRule) => selectors.indexOf(r.remote);
    const best = (rules: DisclosureRule[]) =>
      rules
        .filter((r) => rank(r) >= 0)
        .sort((a, b) => rank(a) - rank(b) || (a.decision === b.decision ? 0 : a.decision === 'deny' ? -1 : 1))[0];
    const all = this.all();
    const own = best(all.filter((r) => r.localid === localid));
    if (own) return { decision: own.decision, localid, rule: own };
    const other = best(all.filter((r) => r.decision === 'allow' && r.localid !== localid && candidates.includes(r.localid)));
    return other && { decision: 'allow', localid: other.localid, rule: other };
  }

  private drop(localid: string, remote: string): void {
    this.stored = undefined;
    this.db.prepare('DELETE FROM disclosure_rules WHERE localid = ? AND remote = ?').run(localid, remote);
    for (let i = this.memory.length - 1; i >= 0; i--) {
      if (this.memory[i]!.localid === localid && this.memory[i]!.remote === remote) this.memory.splice(i, 1);
    }
  }

  private nextId(): number {
    const row = this.db.prepare('SELECT MAX(id) AS id FROM disclosure_rules').get() as { id: number | null };
    return Math.max(row.id ?? 0, ...this.memory.map((r) => r.id)) + 1;
  }
}

const selectRules = new WeakMap<Db, Statement>();

/** The remembered ('forever') rules, straight from the database (also for the CLI). */
export function listStoredRules(db: Db): DisclosureRule[] {
  // Read on every STARTTLS that shows an identity: prepared once per database.
  let select = selectRules.get(db);
  if (!select) selectRules.set(db, (select = db.prepare('SELECT * FROM disclosure_rules ORDER BY id')));
  return (select.all() as RuleRow[]).map((r) => ({
    id: r.id,
    localid: r.localid,
    remote: r.remote,
    decision: r.decision,
    lifetime: 'forever',
    createdAt: r.created_at,
  }));
}

export function revokeStoredRule(db: Db, id: number): DisclosureRule {
  const rule = listStoredRules(db).find((r) => r.id === id);
  if (!rule) throw new Failure('ENOENT', `no disclosure rule ${id}; see the ids with: tlspool rules list`);
  db.prepare('DELETE FROM disclosure_rules WHERE id = ?').run(id);
  return rule;
}
