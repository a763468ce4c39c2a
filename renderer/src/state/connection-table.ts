/**
 * The connection log as the renderer holds it: up to hundreds of thousands
 * of rows, with one upsert per event. Rows are kept oldest first in a plain
 * array (so a new connection is a push, not an O(n) unshift) with an
 * id → index map (so an update is a replace in place); the view reads it
 * backwards, most recent first. The table is mutable on purpose; `version`
 * changes whenever its content does, which is what React compares.
 */
import { type ConnectionRecord, rowPosition } from '../../../src/model/connection';

export class ConnectionTable {
  private rows: ConnectionRecord[] = [];
  private index = new Map<number, number>();
  version = 0;

  get size(): number {
    return this.rows.length;
  }

  /** The i-th row, most recent first. */
  at(i: number): ConnectionRecord {
    return this.rows[this.rows.length - 1 - i];
  }

  get(id: number): ConnectionRecord | undefined {
    const i = this.index.get(id);
    return i === undefined ? undefined : this.rows[i];
  }

  /** Replace everything with `mostRecentFirst` (a snapshot). */
  replace(mostRecentFirst: readonly ConnectionRecord[]): void {
    this.rows = mostRecentFirst.slice().reverse();
    this.sortIfNeeded();
    this.reindex();
    this.version++;
  }

  /** Add the row, or replace the row with its id. */
  upsert(row: ConnectionRecord): void {
    const i = this.index.get(row.id);
    if (i !== undefined) {
      this.rows[i] = row;
    } else if (this.rows.length === 0 || row.id > this.rows[this.rows.length - 1].id) {
      this.index.set(row.id, this.rows.length);
      this.rows.push(row);
    } else {
      // An older row (a page fetched with beforeId): rare, so a sorted insert and a reindex.
      const at = rowPosition(this.rows, row.id, 'ascending');
      this.rows.splice(at, 0, row);
      this.reindex(at);
    }
    this.version++;
  }

  /** Every row, most recent first, that passes `keep`: a copy, for filters and export. */
  filter(keep: (row: ConnectionRecord) => boolean): ConnectionRecord[] {
    const out: ConnectionRecord[] = [];
    for (let i = this.rows.length - 1; i >= 0; i--) if (keep(this.rows[i])) out.push(this.rows[i]);
    return out;
  }

  /** The smallest id held, to ask the agent for older rows. */
  oldestId(): number | undefined {
    return this.rows[0]?.id;
  }

  private sortIfNeeded(): void {
    for (let i = 1; i < this.rows.length; i++) {
      if (this.rows[i - 1].id >= this.rows[i].id) {
        // Deduplicate by id (the copy the snapshot listed first, i.e. the newer, wins) and order by id.
        const byId = new Map<number, ConnectionRecord>();
        for (const r of this.rows) byId.set(r.id, r);
        this.rows = [...byId.values()].sort((a, b) => a.id - b.id);
        return;
      }
    }
  }

  private reindex(from = 0): void {
    if (from === 0) this.index.clear();
    for (let i = from; i < this.rows.length; i++) this.index.set(this.rows[i].id, i);
  }
}
