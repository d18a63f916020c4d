import { EventEmitter } from 'node:events';

type Listener<T> = (payload: T) => void;

/**
 * A small typed event emitter for device components (kit controller, its simulated twin). `on`
 * returns the unsubscribe function, like the kit's EventBus. A listener that throws is not the
 * device's problem: the error is handed to `onListenerError` and the other listeners still run.
 */
export class TypedEmitter<E extends object> {
  private readonly emitter = new EventEmitter();

  constructor(private readonly onListenerError: (name: string, err: unknown) => void) {
    this.emitter.setMaxListeners(50);
  }

  on<K extends keyof E & string>(name: K, fn: Listener<E[K]>): () => void {
    this.emitter.on(name, fn);
    return () => {
      this.emitter.off(name, fn);
    };
  }

  once<K extends keyof E & string>(name: K, fn: Listener<E[K]>): () => void {
    const off = this.on(name, (payload) => {
      off();
      fn(payload);
    });
    return off;
  }

  protected emit<K extends keyof E & string>(name: K, payload: E[K]): void {
    for (const fn of this.emitter.listeners(name) as Listener<E[K]>[]) {
      try {
        fn(payload);
      } catch (err) {
        this.onListenerError(name, err);
      }
    }
  }
}
