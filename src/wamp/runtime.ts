/**
 * What WAMP listeners share at run time: the live frontend sessions (admin API `GET/DELETE /api/v1/wamp/sessions`)
 * and the round-robin counters per (realm, authrole). The Switchyard object owns one.
 */
import type { LifecycleEvents } from '../core/lifecycle.js';
import type { FrontendSession } from './session.js';

export class WampRuntime {
  readonly #sessions = new Map<number, FrontendSession>();
  readonly #roundRobin = new Map<string, number>();
  /** Where joined/closed sessions are reported as `wamp-session` lifecycle events (started / stopped). */
  readonly #events: LifecycleEvents | undefined;

  constructor(events?: LifecycleEvents) {
    this.#events = events;
  }

  #report(session: FrontendSession, state: 'started' | 'stopped'): void {
    if (!this.#events) return;
    const j = session.toJSON();
    const detail = { listener: j['listener'], realm: j['realm'], authid: j['authid'], authrole: j['authrole'], route: j['route'], cluster: j['cluster'] };
    this.#events.emit({ kind: 'wamp-session', id: String(session.id), state, previous: state === 'started' ? 'starting' : 'started', detail });
  }

  /** The next start index for (listener, realm, authrole): advances on every call (Crossbar's counter). */
  nextIndex(listenerId: string, realm: string, authrole: string): number {
    const key = `${listenerId}\u0000${realm}\u0000${authrole}`;
    const n = this.#roundRobin.get(key);
    const next = n === undefined ? 0 : n + 1;
    this.#roundRobin.set(key, next % Number.MAX_SAFE_INTEGER);
    return next;
  }

  add(session: FrontendSession): void {
    this.#sessions.set(session.id, session);
    this.#report(session, 'started');
  }

  remove(session: FrontendSession): void {
    if (this.#sessions.get(session.id) === session) {
      this.#sessions.delete(session.id);
      this.#report(session, 'stopped');
    }
  }

  get(id: number): FrontendSession | undefined {
    return this.#sessions.get(id);
  }

  /** Joined sessions (optionally of one listener). */
  sessions(listenerId?: string): FrontendSession[] {
    const all = [...this.#sessions.values()];
    return listenerId === undefined ? all : all.filter((s) => s.toJSON()['listener'] === listenerId);
  }

  /** End a session (the client gets GOODBYE `wamp.close.killed`); false when there is none with this id. */
  kill(id: number): boolean {
    const s = this.#sessions.get(id);
    if (!s) return false;
    s.kill();
    return true;
  }

  close(): void {
    for (const s of [...this.#sessions.values()]) s.kill('wamp.close.system_shutdown', 'proxy shutting down');
    this.#sessions.clear();
  }
}
