import type { Fault } from '../fault-set.js';
import type { FaultIO, FaultInstance } from '../plugin.js';

/** One live fault on one link: its instance for this connection and direction, and what it was given. */
export interface Stage {
  readonly fault: Fault;
  readonly generation: number;
  readonly instance: FaultInstance;
  /** Aborted when the fault is reconfigured or removed, or the connection ends. */
  readonly controller: AbortController;
  /** The connection-scope draw (always true for request-scoped faults, which draw per request). */
  readonly drawn: boolean;
  readonly io: FaultIO;
}

/** setTimeout as a promise that resolves early (not rejects) on abort, so in-flight data moves on. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
