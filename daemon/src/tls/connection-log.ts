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
import type { Db } from '../identity/db';
import type { EventBus } from '../events/bus';
import type { Logger } from '../log/logger';
import type { ConnectionRecord } from './connection-record';

/** Rows kept in the table; older ones are pruned. */
export const KEEP_ROWS = 100_000;
/** How long changed rows wait to be written together. */
export const FLUSH_MS = 20;

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

  constructor(
    private readonly db: Db,
    private readonly bus: EventBus,
    private readonly log?: Logger,
  ) {
    const row = db.prepare('SELECT MAX(id) AS id FROM connections').get() as { id: number | null };
    this.upsert = db.prepare(
      `INSERT INTO connections (id, started_at, state, role, localid, remoteid, record) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(id) DO UPDATE SET state = excluded.state, localid = excluded.localid, remoteid = excluded.remoteid, record = excluded.record`,
    );
    this.prune = db.prepare('DELETE FROM connections WHERE id <= ?');
    this.writeBatch = db.transaction((records: Iterable<ConnectionRecord>) => {
      for (const r of records) {
        this.upsert.run(r.id, r.startedAt, r.state, r.role, r.localid, r.remoteid, JSON.stringify(r));
        if (++this.sinceprune >= 1000) {
          this.sinceprune = 0;
          this.prune.run(this.nextId - 1 - KEEP_ROWS);
        }
      }
    });
    this.nextId = (row.id ?? 0) + 1;
    endOrphans(db);
  }

  open(init: Pick<ConnectionRecord, 'role' | 'transport' | 'requester' | 'localid' | 'remoteid'>): ConnectionRecord {
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

  /** Most recent first. */
  recent(limit: number): ConnectionRecord[] {
    this.flush();
    return recentConnections(this.db, limit);
  }

  /**
   * Most recent first, live ones included (a live record is newer than its
   * row): at most `limit`, all with an id below `beforeId` when given.
   */
  page(limit: number, beforeId = Number.MAX_SAFE_INTEGER): ConnectionRecord[] {
    this.flush();
    const rows = this.db
      .prepare('SELECT record FROM connections WHERE id < ? ORDER BY id DESC LIMIT ?')
      .all(beforeId, limit) as Array<{ record: string }>;
    const byId = new Map<number, ConnectionRecord>();
    for (const r of rows) {
      const rec = JSON.parse(r.record) as ConnectionRecord;
      byId.set(rec.id, rec);
    }
    for (const rec of this.live.values()) if (rec.id < beforeId) byId.set(rec.id, { ...rec });
    return [...byId.values()].sort((a, b) => b.id - a.id).slice(0, limit);
  }

  /** One connection, live or logged. */
  get(id: number): ConnectionRecord | undefined {
    const live = this.live.get(id);
    if (live) return { ...live };
    this.flush();
    const row = this.db.prepare('SELECT record FROM connections WHERE id = ?').get(id) as { record: string } | undefined;
    return row && (JSON.parse(row.record) as ConnectionRecord);
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

/** Read the log without a daemon (for `tlspool connections`). */
export function recentConnections(db: Db, limit: number): ConnectionRecord[] {
  const rows = db.prepare('SELECT record FROM connections ORDER BY id DESC LIMIT ?').all(limit) as Array<{ record: string }>;
  return rows.map((r) => JSON.parse(r.record) as ConnectionRecord);
}

/**
 * Rows a daemon left established (or handshaking) when it was killed: none
 * of those connections outlived it, so the log must not show them live. (A
 * second daemon that then fails to take the socket from a live one ends the
 * live one's rows too; that one rewrites each row when the connection ends.)
 */
function endOrphans(db: Db): void {
  const ended = "CASE state WHEN 'handshaking' THEN 'failed' ELSE 'closed' END";
  db.prepare(
    `UPDATE connections SET state = ${ended},
       record = json_set(record, '$.state', ${ended}, '$.endReason', 'the daemon stopped without closing it')
     WHERE state IN ('handshaking', 'established')`,
  ).run();
}
