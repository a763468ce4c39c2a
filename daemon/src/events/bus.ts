/**
 * The daemon's internal event bus: typed events that the connection log,
 * the control socket and the desktop app subscribe to. Events never carry
 * a PIN.
 */
import type { ConnectionRecord } from '../tls/connection-record';

export interface PoolEvents {
  'connection-opened': ConnectionRecord;
  'connection-established': ConnectionRecord;
  'connection-closed': ConnectionRecord;
}

type Listener<K extends keyof PoolEvents> = (payload: PoolEvents[K]) => void;

export class EventBus {
  private readonly listeners = new Map<keyof PoolEvents, Set<Listener<keyof PoolEvents>>>();

  on<K extends keyof PoolEvents>(event: K, listener: Listener<K>): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener as Listener<keyof PoolEvents>);
    return () => set!.delete(listener as Listener<keyof PoolEvents>);
  }

  /** A listener that throws is a bug in that listener; it must not stop the others. */
  emit<K extends keyof PoolEvents>(event: K, payload: PoolEvents[K]): void {
    for (const l of this.listeners.get(event) ?? []) {
      try {
        l(payload);
      } catch (e) {
        process.emitWarning(`listener for ${event} failed: ${(e as Error).message}`);
      }
    }
  }
}
