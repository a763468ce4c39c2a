/**
 * The daemon's internal event bus: typed events that the connection log,
 * the control socket and the desktop app subscribe to. The event kinds are
 * the PoolEvent union of the control API, so what is emitted here is what a
 * subscriber of `events.subscribe` receives. Events never carry a PIN.
 */
import type { PoolEvent } from '../model/events';

/** Every kind of event, and what it carries besides its `type`. */
export type PoolEvents = { [E in PoolEvent as E['type']]: Omit<E, 'type'> };
export type PoolEventType = keyof PoolEvents;

type Listener = (event: PoolEvent) => void;

export class EventBus {
  private readonly listeners = new Map<PoolEventType, Set<Listener>>();
  private readonly all = new Set<Listener>();

  on<K extends PoolEventType>(type: K, listener: (event: Extract<PoolEvent, { type: K }>) => void): () => void {
    let set = this.listeners.get(type);
    if (!set) this.listeners.set(type, (set = new Set()));
    set.add(listener as Listener);
    return () => set!.delete(listener as Listener);
  }

  /** Every event, whatever its kind (the control socket's subscribers). */
  onAny(listener: (event: PoolEvent) => void): () => void {
    this.all.add(listener);
    return () => this.all.delete(listener);
  }

  /** A listener that throws is a bug in that listener; it must not stop the others. */
  emit(event: PoolEvent): void {
    for (const l of [...(this.listeners.get(event.type) ?? []), ...this.all]) {
      try {
        l(event);
      } catch (e) {
        process.emitWarning(`listener for ${event.type} failed: ${(e as Error).message}`);
      }
    }
  }
}
