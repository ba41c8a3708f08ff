import { ErrorCodes, SwitchyardError } from '../../core/errors.js';
import type { Fault } from '../fault-set.js';
import type { FaultIO, FaultInstance } from '../plugin.js';

/**
 * One live fault on one link: its instance for this connection and direction, and what it was given.
 *
 * Made for every fault of a listener on every connection, so what only some faults use is made on first use: the
 * AbortController behind `signal` (~3 µs to create, and a DOMException per `abort()` without a reason, in Node 20),
 * and the fault's {@link FaultIO} (a passive fault such as `noop` never gets one).
 */
export class Stage {
  readonly fault: Fault;
  readonly generation: number;
  readonly instance: FaultInstance;
  /** The connection-scope draw (always true for request-scoped faults, which draw per request). */
  readonly drawn: boolean;
  /** `instance.start` ran. */
  started = false;
  /** Reconfigured or removed, or the connection ended (the signal, when one was asked for, is aborted). */
  aborted = false;
  #controller: AbortController | undefined;
  #io: FaultIO | undefined;
  readonly #makeIO: (stage: Stage) => FaultIO;

  constructor(fault: Fault, instance: FaultInstance, drawn: boolean, makeIO: (stage: Stage) => FaultIO) {
    this.fault = fault;
    this.generation = fault.generation;
    this.instance = instance;
    this.drawn = drawn;
    this.#makeIO = makeIO;
  }

  /** What the fault is handed on every call; made on the first one. */
  get io(): FaultIO {
    this.#io ??= this.#makeIO(this);
    return this.#io;
  }

  /** Aborted when the fault is reconfigured or removed, or the connection ends; made on first use. */
  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.aborted) this.#controller.abort(STAGE_ENDED);
    }
    return this.#controller.signal;
  }

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.#controller?.abort(STAGE_ENDED);
  }
}

/** One preallocated abort reason: abort() without one builds a DOMException (with its stack) per call. */
const STAGE_ENDED = new SwitchyardError(ErrorCodes.SHUTDOWN, 'fault reconfigured or connection ended');

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
