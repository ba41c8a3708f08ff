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
