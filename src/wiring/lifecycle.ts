import { describeError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';

/** One part of the kit with a lifecycle: start() and stop() are idempotent; stop() is safe before start(). */
export interface Component {
  name: string;
  start(): Promise<void> | void;
  stop(): Promise<void> | void;
}

/**
 * Starts components in list order and stops them in reverse. Every stop runs even when one before
 * it throws: each failure is caught and logged with the component's name, and stop() then rejects
 * naming them. A start that throws stops every component (reverse order) and rethrows its error.
 * A kit made but never started is stopped all the same (what the constructors opened is released).
 */
export class Lifecycle {
  private state: 'made' | 'running' | 'stopped' = 'made';

  constructor(
    private readonly components: readonly Component[],
    private readonly logger: Logger,
  ) {
    const names = new Set<string>();
    for (const c of components) {
      if (names.has(c.name)) throw new Error(`component name ${JSON.stringify(c.name)} is used twice`);
      names.add(c.name);
    }
  }

  /** Whether start() ran and stop() has not. */
  get running(): boolean {
    return this.state === 'running';
  }

  /** Whether stop() ran and start() has not since. */
  get stopped(): boolean {
    return this.state === 'stopped';
  }

  /** The component names in start order. */
  get names(): string[] {
    return this.components.map((c) => c.name);
  }

  /** Starts every component in order (idempotent). */
  async start(): Promise<void> {
    if (this.state === 'running') return;
    this.state = 'running';
    for (const c of this.components) {
      try {
        await c.start();
      } catch (err) {
        this.logger.error('component did not start; stopping the kit', { component: c.name, error: describeError(err) });
        await this.stop().catch(() => undefined); // each failed stop is logged by name in stop()
        throw err;
      }
    }
  }

  /** Stops every component in reverse order, each one whatever the others do (idempotent). */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    const failed: string[] = [];
    for (const c of [...this.components].reverse()) {
      try {
        await c.stop();
      } catch (err) {
        failed.push(c.name);
        this.logger.error('component did not stop cleanly', { component: c.name, error: describeError(err) });
      }
    }
    if (failed.length > 0) throw new Error(`components did not stop cleanly: ${failed.join(', ')} (see the log)`);
  }
}
