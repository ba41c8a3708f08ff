import { TrafficStats } from './stats.js';

/** Run-time object states (the Crossbar model). */
export type ObjectState = 'created' | 'starting' | 'started' | 'failed' | 'stopping' | 'stopped';

export type ObjectKind = 'listener' | 'cluster' | 'route';

/** What every run-time object exposes to the admin API. */
export interface RuntimeObject<C = unknown> {
  readonly id: string;
  readonly kind: ObjectKind;
  readonly state: ObjectState;
  readonly startedAt: Date | undefined;
  readonly stoppedAt: Date | undefined;
  readonly config: C;
  /** JSON view: id, kind, state, timestamps, config, stats. */
  toJSON(): Record<string, unknown>;
}

/** Tracks state transitions and timestamps; objects embed one. */
export class Lifecycle {
  state: ObjectState = 'created';
  startedAt: Date | undefined;
  stoppedAt: Date | undefined;
  failure: { code: string; message: string } | undefined;
  /** Called after every transition (the owner's Switchyard turns it into a lifecycle event). */
  onChange: ((state: ObjectState, previous: ObjectState) => void) | undefined;

  #to(state: ObjectState): void {
    const previous = this.state;
    this.state = state;
    this.onChange?.(state, previous);
  }

  starting(): void {
    this.#to('starting');
  }
  started(): void {
    this.startedAt = new Date();
    this.stoppedAt = undefined;
    this.failure = undefined;
    this.#to('started');
  }
  failed(code: string, message: string): void {
    this.stoppedAt = new Date();
    this.failure = { code, message };
    this.#to('failed');
  }
  stopping(): void {
    this.#to('stopping');
  }
  stopped(): void {
    this.stoppedAt = new Date();
    this.#to('stopped');
  }
  toJSON(): Record<string, unknown> {
    return {
      state: this.state,
      startedAt: this.startedAt?.toISOString() ?? null,
      stoppedAt: this.stoppedAt?.toISOString() ?? null,
      ...(this.failure ? { failure: this.failure } : {}),
    };
  }
}

/**
 * The shared body of every run-time object: id, config, live stats and the lifecycle, with the JSON view the admin
 * API serves. Subclasses add their kind, start/stop and any extra JSON fields.
 */
export abstract class RuntimeBase<C extends { id: string }> implements RuntimeObject<C> {
  abstract readonly kind: ObjectKind;
  readonly id: string;
  readonly stats = new TrafficStats();
  protected readonly life = new Lifecycle();
  #config: C;

  constructor(config: C) {
    this.id = config.id;
    this.#config = config;
  }

  get config(): C {
    return this.#config;
  }

  /** Swap the config of a live object (hot reload, in place); the subclass applies what the new one changes. */
  protected replaceConfig(config: C): void {
    this.#config = config;
  }

  get state(): ObjectState {
    return this.life.state;
  }

  /** Report every state change of this object to `events` (the Switchyard that runs it). */
  observeLifecycle(events: LifecycleEvents): void {
    const onChange: typeof this.life.onChange = (state, previous) => {
      events.emit({ kind: this.kind, id: this.id, state, previous, ...(state === 'failed' && this.life.failure ? { failure: this.life.failure } : {}) });
    };
    this.life.onChange = onChange;
  }
  get startedAt(): Date | undefined {
    return this.life.startedAt;
  }
  get stoppedAt(): Date | undefined {
    return this.life.stoppedAt;
  }

  /** id, kind, state, timestamps (and failure), config and stats; `extra` fields go before config and stats. */
  protected json(extra: Record<string, unknown> = {}): Record<string, unknown> {
    return { id: this.id, kind: this.kind, ...this.life.toJSON(), ...extra, config: this.config, stats: this.stats.toJSON() };
  }

  toJSON(): Record<string, unknown> {
    return this.json();
  }
}

/** One state change of a run-time object (or a WAMP session), as the `lifecycle` Server-Sent Event carries it. */
export interface LifecycleEvent {
  /** Increasing per Switchyard, from 1. */
  readonly seq: number;
  /** ISO time of the change. */
  readonly time: string;
  readonly kind: ObjectKind | 'wamp-session';
  readonly id: string;
  readonly state: ObjectState;
  readonly previous?: ObjectState | undefined;
  /** A failed object's code and message. */
  readonly failure?: { readonly code: string; readonly message: string } | undefined;
  /** Extra facts of the object (a WAMP session: listener, realm, authid, authrole, route). */
  readonly detail?: Readonly<Record<string, unknown>> | undefined;
}

type LifecycleListener = (event: LifecycleEvent) => void;

/**
 * The state changes of one Switchyard's objects, for live subscribers (GET /api/v1/events) and a small ring of the
 * most recent ones. A failing subscriber is dropped, never the change.
 */
export class LifecycleEvents {
  readonly #listeners = new Set<LifecycleListener>();
  readonly #recent: LifecycleEvent[] = [];
  readonly #capacity: number;
  #seq = 0;

  constructor(capacity = 200) {
    this.#capacity = Math.max(1, capacity);
  }

  emit(change: Omit<LifecycleEvent, 'seq' | 'time'>): LifecycleEvent {
    const event: LifecycleEvent = { seq: ++this.#seq, time: new Date().toISOString(), ...change };
    this.#recent.push(event);
    if (this.#recent.length > this.#capacity) this.#recent.shift();
    for (const l of this.#listeners) {
      try {
        l(event);
      } catch {
        this.#listeners.delete(l);
      }
    }
    return event;
  }

  /** The most recent changes, oldest first. */
  recent(): LifecycleEvent[] {
    return this.#recent.slice();
  }

  /** Live changes; returns the unsubscribe function. */
  subscribe(listener: LifecycleListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  close(): void {
    this.#listeners.clear();
  }
}
