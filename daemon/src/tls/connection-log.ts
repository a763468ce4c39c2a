/**
 * Live connections in memory, ended ones in the `connections` table. A row
 * is written when a connection is established or fails, and updated when it
 * closes; the table keeps the most recent rows only.
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from '../identity/db';
import type { EventBus } from '../events/bus';
import type { ConnectionRecord } from './connection-record';

/** Rows kept in the table; older ones are pruned. */
export const KEEP_ROWS = 100_000;

export class ConnectionLog {
  readonly live = new Map<number, ConnectionRecord>();
  private nextId: number;
  private sinceprune = 0;
  // Prepared once: every connection writes its row twice.
  private readonly upsert: Statement;
  private readonly prune: Statement;

  constructor(
    private readonly db: Db,
    private readonly bus: EventBus,
  ) {
    const row = db.prepare('SELECT MAX(id) AS id FROM connections').get() as { id: number | null };
    this.upsert = db.prepare(
      `INSERT INTO connections (id, started_at, state, role, localid, remoteid, record) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(id) DO UPDATE SET state = excluded.state, localid = excluded.localid, remoteid = excluded.remoteid, record = excluded.record`,
    );
    this.prune = db.prepare('DELETE FROM connections WHERE id <= ?');
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
    return recentConnections(this.db, limit);
  }

  /**
   * Most recent first, live ones included (a live record is newer than its
   * row): at most `limit`, all with an id below `beforeId` when given.
   */
  page(limit: number, beforeId = Number.MAX_SAFE_INTEGER): ConnectionRecord[] {
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
    const row = this.db.prepare('SELECT record FROM connections WHERE id = ?').get(id) as { record: string } | undefined;
    return row && (JSON.parse(row.record) as ConnectionRecord);
  }

  private write(record: ConnectionRecord): void {
    this.upsert.run(record.id, record.startedAt, record.state, record.role, record.localid, record.remoteid, JSON.stringify(record));
    if (++this.sinceprune >= 1000) {
      this.sinceprune = 0;
      this.prune.run(record.id - KEEP_ROWS);
    }
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
