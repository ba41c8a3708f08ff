import type { Decision, DivergenceEvent, DivergenceLog, VariantOutcome, VariantStatus } from './events.js';
import type { Judged } from './judge.js';

/** One divergence, as an engine sees it: per-variant facts by index, the comparison if answers were compared. */
export interface DivergenceReport {
  /** An id reserved earlier (a blocked answer's error reply already named it). */
  readonly id?: number | undefined;
  readonly policy: string;
  readonly decision: Decision;
  readonly request: DivergenceEvent['request'];
  /** Variant names, in variant order; every per-variant list below is indexed the same way. */
  readonly names: readonly string[];
  readonly statuses: readonly VariantStatus[];
  /** Which variants' answers were in the group the policy served (or agreed with it). */
  readonly agreed: (index: number) => boolean;
  /** Answer times (ms), when known. */
  readonly latencyMs?: readonly (number | undefined)[] | undefined;
  /** The comparison of the answers (digests, summaries, differing fields, the diff), when they were compared. */
  readonly judged?: Judged | undefined;
  /** A variant's summary when the comparison has none (merge: the request a variant sent). */
  readonly summaries?: readonly (string | undefined)[] | undefined;
  /** Index of the variant whose answer reached the client; absent when nobody's did. */
  readonly served?: number | undefined;
  /** Differing fields; default: the comparison's. */
  readonly fields?: readonly string[] | undefined;
  /** The readable diff; default: the comparison's diff against the served (or reference) answer. */
  readonly diff?: string | undefined;
}

/**
 * Builds divergence events for one route's engine (replicate, merge, mirror, raw streams) and records them: the one
 * place a VariantOutcome and a DivergenceEvent are put together.
 */
export class DivergenceReporter {
  readonly #log: DivergenceLog;
  readonly #route: string;
  readonly #mode: DivergenceEvent['mode'];

  constructor(log: DivergenceLog, route: string, mode: DivergenceEvent['mode']) {
    this.#log = log;
    this.#route = route;
    this.#mode = mode;
  }

  /** Reserve the next event id (a blocked answer's error reply names it before the event is recorded). */
  reserveId(): number {
    return this.#log.reserveId();
  }

  record(r: DivergenceReport): DivergenceEvent {
    const judged = r.judged;
    const variants: VariantOutcome[] = r.names.map((name, i) => ({
      name,
      status: r.statuses[i] ?? 'closed',
      digest: judged?.canons[i]?.digest,
      summary: judged?.canons[i]?.summary ?? r.summaries?.[i],
      latencyMs: roundMs(r.latencyMs?.[i]),
      agreed: r.agreed(i),
    }));
    return this.#log.record({
      ...(r.id !== undefined ? { id: r.id } : {}),
      route: this.#route,
      mode: this.#mode,
      policy: r.policy,
      decision: r.decision,
      request: r.request,
      variants,
      ...(r.served !== undefined ? { served: r.names[r.served] } : {}),
      fields: r.fields ?? judged?.fields ?? [],
      diff: r.diff ?? judged?.diff(r.names, r.served, r.statuses) ?? '',
    });
  }
}

/** Milliseconds to one decimal (events are read by people). */
function roundMs(ms: number | undefined): number | undefined {
  return ms === undefined ? undefined : Math.round(ms * 10) / 10;
}
