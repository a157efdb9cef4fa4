/**
 * The event emitter behind `client.on()`, and the one place application callbacks are called:
 * an exception thrown by app code is rethrown in a microtask (so it is reported, as an uncaught
 * error) instead of breaking the client's own bookkeeping.
 */

/** Call application code; its exceptions are reported, not allowed to break the client. */
export function callSafely<T>(callback: (value: T) => void, value: T): void {
  try {
    callback(value);
  } catch (error) {
    queueMicrotask(() => {
      throw error;
    });
  }
}

/** Listeners per event name, for an event map `Events` (event name to payload type). */
export class Emitter<Events> {
  private readonly listeners = new Map<keyof Events, Set<(payload: never) => void>>();

  /** Listen to `event`; returns the function that stops listening. */
  on<K extends keyof Events>(event: K, listener: (payload: Events[K]) => void): () => void {
    let set = this.listeners.get(event);
    if (!set) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
    };
  }

  /** Call every listener of `event` (those added meanwhile wait for the next emit). */
  emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const listener of [...set]) callSafely(listener as (payload: Events[K]) => void, payload);
  }
}
