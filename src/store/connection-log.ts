/**
 * Live connections in memory, ended ones in the `connections` table. A row
 * is written when a connection is established or fails, and updated when it
 * closes; the table keeps the most recent rows only.
 *
 * Rows are written in batches, FLUSH_MS after the first change, in one
 * transaction, each connection once with its latest state (under handshake
 * load, a transaction per row took a tenth of the daemon's JavaScript
 * thread; a short connection now often costs one row instead of two). Reads
 * through this class flush first; `tlspool connections` may be FLUSH_MS
 * behind, and a daemon killed outright loses at most the rows of that time.
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from './db';
import type { EventBus } from '../events/bus';
import type { Logger } from '../log/logger';
import { MAX_PAGE_ROWS } from '../model/connection';
import type { ConnectionPage, ConnectionRecord } from '../model/connection';

/** Rows kept in the table; older ones are pruned. */
export const KEEP_ROWS = 100_000;
/** How long changed rows wait to be written together. */
export const FLUSH_MS = 20;
/**
 * A page of the log stops before this much JSON (whole records, at least
 * one), however few rows that is: an answer's size is bounded whatever the
 * peers' certificate chains weigh.
 */
export const MAX_PAGE_BYTES = 4 * 1024 * 1024;
/** Damaged rows warned about one by one; past that, one warning says so. */
const MAX_DAMAGED_WARNINGS = 1000;

export class ConnectionLog {
  readonly live = new Map<number, ConnectionRecord>();
  private nextId: number;
  private sinceprune = 0;
  // Prepared once: every connection writes its row twice.
  private readonly upsert: Statement;
  private readonly prune: Statement;
  /** Connections whose row changed since the last flush. */
  private pending = new Map<number, ConnectionRecord>();
  private readonly writeBatch: (records: Iterable<ConnectionRecord>) => void;
  private readonly rows: ConnectionRows;
  /** Damaged rows already warned about: each is logged once, however often it is listed. */
  private readonly warnedDamaged = new Set<number>();

  constructor(
    private readonly db: Db,
    private readonly bus: EventBus,
    private readonly log?: Logger,
  ) {
    const row = db.prepare('SELECT MAX(id) AS id FROM connections').get() as { id: number | null };
    this.upsert = db.prepare(
      `INSERT INTO connections (id, started_at, state, role, localid, remoteid, peer, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(id) DO UPDATE SET state = excluded.state, localid = excluded.localid, remoteid = excluded.remoteid, record = excluded.record`,
    );
    this.prune = db.prepare('DELETE FROM connections WHERE id <= ?');
    this.writeBatch = db.transaction((records: Iterable<ConnectionRecord>) => {
      for (const r of records) {
        this.upsert.run(r.id, r.startedAt, r.state, r.role, r.localid, r.remoteid, r.peer ?? '', JSON.stringify(r));
        if (++this.sinceprune >= 1000) {
          this.sinceprune = 0;
          this.prune.run(this.nextId - 1 - KEEP_ROWS);
        }
      }
    });
    this.nextId = (row.id ?? 0) + 1;
    this.rows = new ConnectionRows(db, (id, why) => this.damagedRow(id, why));
  }

  /**
   * End the rows a daemon that is gone left open (killed, or crashed). Only
   * the daemon that has taken the socket may call it: one refused because
   * another still serves would end that daemon's live connections.
   */
  endOrphans(): void {
    endOrphans(this.db);
  }

  open(init: Pick<ConnectionRecord, 'role' | 'transport' | 'requester' | 'localid' | 'remoteid' | 'peer'>): ConnectionRecord {
    const record: ConnectionRecord = {
      id: this.nextId++,
      ...init,
      state: 'handshaking',
      peerChain: [],
      startedAt: new Date().toISOString(),
      bytesIn: 0,
      bytesOut: 0,
    };
    this.live.set(record.id, record);
    this.bus.emit({ type: 'connection-opened', connection: { ...record } });
    return record;
  }

  established(record: ConnectionRecord): void {
    record.state = 'established';
    record.establishedAt = new Date().toISOString();
    this.write(record);
    this.bus.emit({ type: 'connection-established', connection: { ...record } });
  }

  /** The end of a connection, established or not. */
  ended(record: ConnectionRecord, reason: string, error?: { errno: string; message: string }): void {
    if (!this.live.delete(record.id)) return;
    record.state = error && !record.establishedAt ? 'failed' : 'closed';
    record.endedAt = new Date().toISOString();
    record.endReason = reason;
    record.error = error;
    this.write(record);
    this.bus.emit({ type: 'connection-closed', connection: { ...record } });
  }

  /**
   * Most recent first, live ones included (a live record is newer than its
   * row): at most `limit` (1..MAX_PAGE_ROWS), all with an id below
   * `beforeId` when given, and no more rows than fit in MAX_PAGE_BYTES (at
   * least one); `more` says whether older ones exist.
   */
  page(limit: number, beforeId = Number.MAX_SAFE_INTEGER): ConnectionPage {
    this.flush();
    const stored = this.rows.read(beforeId, limit);
    const live = [...this.live.values()].filter((r) => r.id < beforeId).sort((a, b) => b.id - a.id);
    const connections: ConnectionRecord[] = [];
    let bytes = 0;
    let i = 0;
    let j = 0;
    let full = false;
    while (connections.length < limit && (i < stored.rows.length || j < live.length)) {
      const row = stored.rows[i];
      const rec = live[j];
      let next: ConnectionRecord;
      let size: number;
      if (rec && (!row || rec.id >= row.record.id)) {
        if (row && row.record.id === rec.id) i++; // the live record is newer than its row
        next = { ...rec };
        size = JSON.stringify(next).length;
        if (connections.length > 0 && bytes + size > MAX_PAGE_BYTES) {
          full = true;
          break;
        }
        j++;
      } else {
        next = row!.record;
        size = row!.bytes;
        if (connections.length > 0 && bytes + size > MAX_PAGE_BYTES) {
          full = true;
          break;
        }
        i++;
      }
      bytes += size;
      connections.push(next);
    }
    return { connections, more: full || stored.more || i < stored.rows.length || j < live.length };
  }

  /** One connection, live or logged (a damaged row as `damaged`). */
  get(id: number): ConnectionRecord | undefined {
    const live = this.live.get(id);
    if (live) return { ...live };
    this.flush();
    return this.rows.one(id);
  }

  private damagedRow(id: number, why: string): void {
    if (this.warnedDamaged.has(id)) return;
    if (this.warnedDamaged.size >= MAX_DAMAGED_WARNINGS) {
      if (this.warnedDamaged.size === MAX_DAMAGED_WARNINGS) {
        this.warnedDamaged.add(-1);
        this.log?.warn('more damaged rows in the connection log; not each is logged', { rows: MAX_DAMAGED_WARNINGS });
      }
      return;
    }
    this.warnedDamaged.add(id);
    this.log?.warn('a row of the connection log is damaged; it is listed as damaged', { id, why });
  }

  /** Write the rows waiting now (before the database closes, or a read). */
  flush(): void {
    if (this.pending.size === 0 || !this.db.open) return;
    const records = this.pending;
    this.pending = new Map();
    try {
      this.writeBatch(records.values());
    } catch (e) {
      // The connections themselves are not affected; these rows are lost.
      this.log?.error('cannot write the connection log', { rows: records.size, error: (e as Error).message });
    }
  }

  private write(record: ConnectionRecord): void {
    this.pending.set(record.id, record);
    if (this.pending.size === 1) setTimeout(() => this.flush(), FLUSH_MS).unref();
  }

}

interface StoredRow {
  id: number;
  started_at: string;
  state: string;
  role: string;
  localid: string;
  remoteid: string;
  peer: string;
  record: string;
}

/**
 * Reading the `connections` table, by the daemon and by `tlspool connections`
 * (which reads it without a daemon). A row whose JSON does not parse, or is
 * not a connection record, does not fail the read: it comes back built from
 * the table's own columns and marked `damaged`, and `onDamaged` hears of it.
 */
export class ConnectionRows {
  private readonly before: Statement;
  private readonly byId: Statement;

  constructor(
    db: Db,
    private readonly onDamaged: (id: number, why: string) => void = () => {},
  ) {
    this.before = db.prepare('SELECT id, started_at, state, role, localid, remoteid, peer, record FROM connections WHERE id < ? ORDER BY id DESC LIMIT ?');
    this.byId = db.prepare('SELECT id, started_at, state, role, localid, remoteid, peer, record FROM connections WHERE id = ?');
  }

  /**
   * Up to `limit` rows below `beforeId`, most recent first, stopping before
   * MAX_PAGE_BYTES of stored JSON (at least one row); `more`: rows were left
   * unread. `bytes` is each row's stored JSON length.
   */
  read(beforeId: number, limit: number): { rows: Array<{ record: ConnectionRecord; bytes: number }>; more: boolean } {
    limit = Math.min(limit, MAX_PAGE_ROWS);
    const rows: Array<{ record: ConnectionRecord; bytes: number }> = [];
    let bytes = 0;
    // Row by row, so a page cut short by its size reads no further.
    for (const row of this.before.iterate(beforeId, limit + 1) as IterableIterator<StoredRow>) {
      const size = typeof row.record === 'string' ? row.record.length : 0;
      if (rows.length === limit || (rows.length > 0 && bytes + size > MAX_PAGE_BYTES)) {
        // Returning early ends the statement (the iterator's return()).
        return { rows, more: true };
      }
      bytes += size;
      rows.push({ record: this.parse(row), bytes: size });
    }
    return { rows, more: false };
  }

  one(id: number): ConnectionRecord | undefined {
    const row = this.byId.get(id) as StoredRow | undefined;
    return row && this.parse(row);
  }

  private parse(row: StoredRow): ConnectionRecord {
    let why: string | undefined;
    try {
      const rec = JSON.parse(String(row.record)) as unknown;
      why = recordProblem(rec, row.id);
      if (why === undefined) return rec as ConnectionRecord;
    } catch (e) {
      why = `its JSON does not parse: ${(e as Error).message}`;
    }
    this.onDamaged(row.id, why);
    return damagedRecord(row, why);
  }
}

const STATES: ReadonlySet<string> = new Set(['handshaking', 'established', 'closed', 'failed']);

/** What makes `v` not a ConnectionRecord with this id, or undefined if it is one. */
function recordProblem(v: unknown, id: number): string | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'it is not a JSON object';
  const r = v as Record<string, unknown>;
  const str = (k: string) => typeof r[k] === 'string';
  const optStr = (k: string) => r[k] === undefined || str(k);
  const num = (x: unknown) => typeof x === 'number' && Number.isFinite(x);
  if (r.id !== id) return `its record has id ${JSON.stringify(r.id)}, not ${id}`;
  if (r.role !== 'client' && r.role !== 'server') return 'its role is neither client nor server';
  if (r.transport !== 'tls' && r.transport !== 'dtls') return 'its transport is neither tls nor dtls';
  if (typeof r.state !== 'string' || !STATES.has(r.state)) return 'its state is not one of handshaking, established, closed, failed';
  const q = r.requester as Record<string, unknown> | null;
  if (typeof q !== 'object' || q === null || !num(q.pid) || !num(q.uid) || !num(q.gid) || (q.executable !== undefined && typeof q.executable !== 'string')) {
    return 'its requester is not { pid, uid, gid, executable?, command? }';
  }
  if (q.command !== undefined && !(Array.isArray(q.command) && q.command.every((a) => typeof a === 'string'))) return 'its requester command is not a list of strings';
  for (const k of ['localid', 'remoteid', 'startedAt']) if (!str(k)) return `its ${k} is not a string`;
  for (const k of ['peer', 'sni', 'version', 'cipher', 'establishedAt', 'endedAt', 'endReason', 'validation', 'external', 'warning']) if (!optStr(k)) return `its ${k} is not a string`;
  if (!Array.isArray(r.peerChain) || !r.peerChain.every((c) => typeof c === 'string')) return 'its peerChain is not a list of PEM strings';
  if (!num(r.bytesIn) || !num(r.bytesOut)) return 'its byte counts are not numbers';
  const e = r.error as Record<string, unknown> | undefined;
  if (e !== undefined && (typeof e !== 'object' || e === null || typeof e.errno !== 'string' || typeof e.message !== 'string')) {
    return 'its error is not { errno, message }';
  }
  return undefined;
}

/** A damaged row as a record: what the table's columns still say, the rest placeholders. */
function damagedRecord(row: StoredRow, why: string): ConnectionRecord {
  const text = (v: unknown) => (typeof v === 'string' ? v : String(v ?? ''));
  return {
    id: row.id,
    role: row.role === 'server' ? 'server' : 'client',
    transport: 'tls',
    requester: { pid: 0, uid: 0, gid: 0 },
    state: STATES.has(row.state) ? (row.state as ConnectionRecord['state']) : 'closed',
    localid: text(row.localid),
    remoteid: text(row.remoteid),
    ...(row.peer ? { peer: text(row.peer) } : {}),
    peerChain: [],
    startedAt: text(row.started_at),
    bytesIn: 0,
    bytesOut: 0,
    endReason: `the log row is damaged (${why}); only its id, time, role, state, names and peer address are known`,
    damaged: why,
  };
}

/**
 * Rows a daemon left established (or handshaking) when it was killed: none
 * of those connections outlived it, so the log must not show them live.
 */
function endOrphans(db: Db): void {
  const ended = "CASE state WHEN 'handshaking' THEN 'failed' ELSE 'closed' END";
  // A damaged record (not JSON) keeps its text: json_set would fail the
  // whole statement, and the daemon's start with it.
  db.prepare(
    `UPDATE connections SET state = ${ended},
       record = CASE WHEN json_valid(record)
         THEN json_set(record, '$.state', ${ended}, '$.endReason', 'the daemon stopped without closing it')
         ELSE record END
     WHERE state IN ('handshaking', 'established')`,
  ).run();
}
