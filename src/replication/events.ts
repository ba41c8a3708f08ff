import { createWriteStream, type WriteStream } from 'node:fs';
import type { Logger } from '../core/log.js';

/** What the policy did with an exchange whose variants (or shadow) disagreed. */
export type Decision =
  /** unanimous / majority without a majority / merge: nobody got a variant's answer; the client got the protocol's error. */
  | 'blocked'
  /** majority: the majority's answer was served; the odd variants were out-voted. */
  | 'outvoted'
  /** primary (detect-only) and mirror: the primary's answer was served; the difference is only reported. */
  | 'reported';

export type VariantStatus = 'ok' | 'timeout' | 'refused' | 'reset' | 'closed' | 'oversized' | 'malformed' | 'quarantined';

export interface VariantOutcome {
  readonly name: string;
  readonly status: VariantStatus;
  /** sha256 of the normalised message (absent when the variant gave none). */
  readonly digest?: string | undefined;
  /** Short description of what it answered ("200 application/json 42 B", "+OK", "CommandComplete SELECT 1"). */
  readonly summary?: string | undefined;
  readonly latencyMs?: number | undefined;
  /** True when this variant's answer was in the group the policy served (or agreed with it). */
  readonly agreed: boolean;
}

export interface DivergenceEvent {
  readonly id: number;
  /** ISO time the decision was taken. */
  readonly time: string;
  readonly route: string;
  /** replicate (incoming), merge (outgoing), mirror (shadow) or grpc (a gRPC route's secondaries, `compare: {policy: report}`). */
  readonly mode: 'replicate' | 'merge' | 'mirror' | 'grpc';
  readonly policy: string;
  readonly decision: Decision;
  readonly request: { readonly summary: string; readonly endpoint: string; readonly attributes?: Readonly<Record<string, unknown>> | undefined };
  readonly variants: readonly VariantOutcome[];
  /** Name of the variant whose answer reached the client (absent when blocked). */
  readonly served?: string | undefined;
  /** Field paths that differ (JSON pointer into the normalised message), noise removed. */
  readonly fields: readonly string[];
  /** Readable diff: field paths for structured messages, unified diff for text. */
  readonly diff: string;
}

export interface DivergenceLogOptions {
  /** Events kept in memory (oldest dropped first). */
  capacity?: number;
  /** Append every event as one JSON line to this file. */
  file?: string | undefined;
  logger?: Logger | undefined;
}

type Listener = (event: DivergenceEvent) => void;

/**
 * Divergence events: a bounded in-memory ring (for GET /api/v1/divergences), an optional JSONL file, live
 * subscribers (Server-Sent Events) and counters for the metrics. One per Switchyard.
 */
export class DivergenceLog {
  capacity: number;
  #ring: DivergenceEvent[] = [];
  #head = 0;
  #nextId = 1;
  #file: WriteStream | undefined;
  #listeners = new Set<Listener>();
  readonly #logger: Logger | undefined;
  /** route → decision → count (metrics read it at scrape time). */
  readonly counts = new Map<string, Map<Decision, number>>();

  constructor(options: DivergenceLogOptions = {}) {
    this.capacity = Math.max(1, options.capacity ?? 1000);
    this.#logger = options.logger;
    if (options.file) this.openFile(options.file);
  }

  /** Change how many events are kept (the newest survive). */
  resize(capacity: number): void {
    const keep = this.list().slice(-Math.max(1, capacity));
    this.capacity = Math.max(1, capacity);
    this.#ring = keep;
    this.#head = 0;
  }

  /** Start (or switch) appending events to a JSONL file. */
  openFile(path: string): void {
    this.#file?.end();
    const file = createWriteStream(path, { flags: 'a' });
    file.on('error', (err) => this.#logger?.error({ err, file: path }, 'cannot write divergence events file; continuing in memory only'));
    this.#file = file;
  }

  /** The next event id (ids are reserved before the reply is sent, so an error reply can name its event). */
  reserveId(): number {
    return this.#nextId++;
  }

  record(event: Omit<DivergenceEvent, 'id' | 'time'> & { id?: number }): DivergenceEvent {
    const full: DivergenceEvent = { ...event, id: event.id ?? this.reserveId(), time: new Date().toISOString() };
    if (this.#ring.length < this.capacity) this.#ring.push(full);
    else {
      this.#ring[this.#head] = full;
      this.#head = (this.#head + 1) % this.capacity;
    }
    let byDecision = this.counts.get(full.route);
    if (!byDecision) this.counts.set(full.route, (byDecision = new Map<Decision, number>()));
    byDecision.set(full.decision, (byDecision.get(full.decision) ?? 0) + 1);
    if (this.#file) this.#file.write(`${JSON.stringify(full)}\n`);
    this.#logger?.warn({ divergence: full.id, route: full.route, mode: full.mode, decision: full.decision, fields: full.fields.slice(0, 10), request: full.request.summary }, 'variants diverged');
    for (const l of this.#listeners) {
      try {
        l(full);
      } catch (err) {
        this.#logger?.error({ err }, 'divergence listener failed');
      }
    }
    return full;
  }

  /** Events oldest first, optionally filtered. */
  list(filter: { route?: string | undefined; since?: number | undefined; limit?: number | undefined } = {}): DivergenceEvent[] {
    const ordered = this.#ring.length < this.capacity ? this.#ring.slice() : [...this.#ring.slice(this.#head), ...this.#ring.slice(0, this.#head)];
    let out = ordered;
    if (filter.route !== undefined) out = out.filter((e) => e.route === filter.route);
    if (filter.since !== undefined) out = out.filter((e) => e.id > filter.since!);
    if (filter.limit !== undefined && out.length > filter.limit) out = out.slice(out.length - filter.limit);
    return out;
  }

  get(id: number): DivergenceEvent | undefined {
    return this.#ring.find((e) => e.id === id);
  }

  clear(): void {
    this.#ring = [];
    this.#head = 0;
  }

  /** Live events; returns the unsubscribe function. */
  subscribe(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  close(): void {
    this.#file?.end();
    this.#file = undefined;
    this.#listeners.clear();
  }
}
