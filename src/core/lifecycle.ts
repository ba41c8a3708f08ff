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

  starting(): void {
    this.state = 'starting';
  }
  started(): void {
    this.state = 'started';
    this.startedAt = new Date();
    this.stoppedAt = undefined;
    this.failure = undefined;
  }
  failed(code: string, message: string): void {
    this.state = 'failed';
    this.stoppedAt = new Date();
    this.failure = { code, message };
  }
  stopping(): void {
    this.state = 'stopping';
  }
  stopped(): void {
    this.state = 'stopped';
    this.stoppedAt = new Date();
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
